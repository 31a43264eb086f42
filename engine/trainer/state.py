"""The trainer's checkpoints: what one holds, saving it safely, and resuming from it.

A checkpoint is a ``torch.save``d dict: ``model`` (the bundle's state), ``iteration``
(completed steps), ``epoch`` (of the next step), ``data`` (what the sample-stream
position is derived from, resume_check.py), ``trainer`` (the non-finite skip count and
every hook's ``state_dict`` under its ``state_key``, NumPy values as Python numbers and
tensors: checkpoint/plain.py; ``stopped`` when a hook ended the
run early), ``rng``, ``config`` and ``engine_version``. See doc/resume.md.
"""
import inspect
import logging
import os
from typing import Optional

import torch

from .. import __version__
from ..config.loader import dump_cfg
from ..checkpoint.names import FINAL
from ..checkpoint.io import iter_tensors
from ..checkpoint.plain import loadable
from ..checkpoint.weights import check_resume_fits
from ..data.sampler import epoch_at
from ..model.sharded_state import optimizer_order, sharded as sharded_state
from ..utils import comm
from ..utils.errors import ConfigError, EngineError
from ..utils.finite import all_finite
from ..utils.rng import capture_rng_state, restore_rng_state
from .hooks.base import stored_state
from .resume_check import batch_keeping_stream, check_data_position, data_position, report_config_changes
from .session import stop_lifted
from .stopping import StopRequest

__all__ = ["TrainerState", "StopRequest", "run_dir_of", "accepts_keyword", "first_nonfinite"]

logger = logging.getLogger("engine.trainer")

# payload['trainer'] keys that are not hook states
OWN_KEYS = ("nonfinite", "stopped")


def run_dir_of(cfg) -> str:
    """``output_dir/output_log_name``; a name that is no folder of its own (empty, '.',
    '..') is refused: the run would write into output_dir itself, beside other runs."""
    name = str(cfg.OUTPUT_LOG_NAME if cfg.OUTPUT_LOG_NAME is not None else "").strip()
    if name in ("", ".", ".."):
        what = "is empty" if not name else f"is {name!r}"
        raise ConfigError(f"output_log_name {what}: a run is written to output_dir/output_log_name, so this one "
                          f"would write into {os.path.normpath(os.path.join(str(cfg.OUTPUT_DIR), name))!r} "
                          f"itself; name the run, e.g. output_log_name my_run")
    return os.path.join(cfg.OUTPUT_DIR, cfg.OUTPUT_LOG_NAME)


class TrainerState:
    """BaseTrainer's checkpoint methods (they use only attributes BaseTrainer.__init__ sets)."""

    def resume_or_load(self, resume: bool = True, *, flag: str = "--resume") -> str:
        """--resume: continue from the newest complete checkpoint (fresh start if none).
        Otherwise load ``trainer.weights`` into the generator, if set. Returns what was
        loaded: 'checkpoint', 'weights' or ''. ``flag`` is the option that asked for the
        checkpoint (--eval-only asks without --resume: no "starting from scratch" then)."""
        if resume:
            self.checkpointer.remove_stale_temporaries()
            found = self.checkpointer.load_latest()
            failures = self.checkpointer.load_failures
            if found is not None:
                path, payload = found
                check_resume_fits(self.model.named_networks(), payload["model"], path)  # else: key/shape table, exit 2
                self.model.load_state_dict(payload["model"])
                self.start_iter = int(payload["iteration"])
                if "rng" in payload:
                    restore_rng_state(payload["rng"])
                self.restore_trainer_state(payload, path)
                logger.info("resumed from %s at iteration %d", path, self.start_iter)
                if failures:
                    logger.warning("resumed from %s, the newest checkpoint that loads; not used: %s", path,
                                   "; ".join(f"{p} ({reason})" for p, reason in failures))
                return "checkpoint"
            if failures:
                raise EngineError(
                    f"{flag}: none of the {len(failures)} checkpoint(s) in {self.checkpointer.folder!r} "
                    f"loads: " + "; ".join(f"{p} ({reason})" for p, reason in failures)
                    + ("; move them away to start this run from scratch" if flag == "--resume" else
                       "; set trainer.weights to evaluate another file"))
            if flag == "--resume":
                logger.info("--resume: no checkpoint in %s; starting from scratch", self.checkpointer.folder)
        if self.cfg.TRAINER.WEIGHTS:
            self.model.load_generator_weights(self.cfg.TRAINER.WEIGHTS, self.cfg.TRAINER.WEIGHTS_PREFIXES)
            return "weights"
        return ""

    def restore_trainer_state(self, payload: dict, path: str) -> None:
        """The trainer's own part of a checkpoint: the skipped non-finite steps, every
        hook's state (hooks/base.py's stored_state: under an earlier key too); check that
        the data stream and config still match; whether a hook had stopped the run (unless
        this session changed solver.max_iter or trainer.hooks: session.stop_lifted)."""
        state = payload.get("trainer") or {}
        self.resumed_from = path
        self.nonfinite_guard.load_state_dict(state.get("nonfinite") or {})
        self.resume_state = {k: v for k, v in state.items() if k not in OWN_KEYS}
        for hook in self.hooks:
            hook.load_state_dict(stored_state(hook, self.resume_state) or {})
        changes = report_config_changes(payload.get("config"), dump_cfg(self.cfg))
        if self.train_set is not None:
            self._keep_global_batch(payload.get("data"))
            check_data_position(payload.get("data"), self._data_position(self.start_iter), self.start_iter)
        if state.get("stopped") and not stop_lifted(self, state["stopped"], changes):
            self.stop_request = StopRequest(state["stopped"])

    def _keep_global_batch(self, saved: Optional[dict]) -> None:
        """Resumed on another number of processes with the checkpoint's batch settings:
        keep its global batch (resume_check.batch_keeping_stream), so the data stream and
        the results continue as if the process count had not changed."""
        kept = batch_keeping_stream(saved, self.cfg, self.world_size)
        if kept is None:
            return
        batch, accumulation = kept
        frozen = self.cfg.is_frozen()
        self.cfg.defrost()
        self.cfg.SOLVER.TRAIN_PER_BATCH, self.cfg.SOLVER.GRADIENT_ACCUMULATION_BATCH = batch, accumulation
        if frozen:
            self.cfg.freeze()
        logger.info("resume: written by %s process(es), continued on %d: solver.train_per_batch %s -> %d with "
                    "solver.gradient_accumulation_batch %d keeps the global batch of %s and the sample stream",
                    saved["world_size"], self.world_size, saved["train_per_batch"], batch, accumulation,
                    saved["global_batch"])

    def _data_position(self, iteration: int) -> dict:
        size = len(self.train_set) if self.train_set is not None else None
        return data_position(self.cfg, iteration, size, self.world_size)

    def _epoch_at(self, iteration: int) -> Optional[int]:
        """The epoch of step ``iteration`` (0-based), as the sampler computes it."""
        if self.train_set is None or len(self.train_set) == 0:
            return None
        return epoch_at(iteration, int(self.cfg.SOLVER.TRAIN_PER_BATCH) * self.world_size, len(self.train_set))

    def checkpoint_payload(self, iteration: int, model_state=None) -> dict:
        """Everything a resume needs. ``iteration`` = completed steps; ``epoch`` = the epoch
        of the next step; ``data`` = what the sample-stream position is derived from;
        ``model`` = ``model_state`` or the bundle's (consolidated) state."""
        trainer = {"nonfinite": self.nonfinite_guard.state_dict()}
        for hook in self.hooks:  # the project's values: NumPy converted, anything unloadable refused
            state = loadable(hook.state_dict(), f"hook {type(hook).__name__}'s state_dict() (state_key "
                                                f"{hook.state_key!r})")
            if state:
                trainer[hook.state_key] = state
        if self.stop_request is not None and not self.stop_request.signum:
            trainer["stopped"] = self.stop_request.reason
        return {
            "model": self.model.state_dict() if model_state is None else model_state,
            "iteration": iteration,
            "epoch": self._epoch_at(iteration),
            "data": self._data_position(iteration),
            "trainer": trainer,
            "rng": capture_rng_state(),
            "config": dump_cfg(self.cfg),
            "engine_version": __version__,
        }

    def save_checkpoint(self, name: str, iteration: int, *, update_last: bool = True) -> Optional[str]:
        """Save ``checkpoints/<name>`` atomically (and name it in ``last_checkpoint``
        unless ``update_last`` is False). Refuses, with an error, to write a state that
        holds NaN or inf: the good checkpoints on disk stay the newest."""
        sharded = self.model.sharding is not None and name != FINAL
        payload = self.checkpoint_payload(iteration, sharded_state(self.model) if sharded else None)
        bad = first_nonfinite(payload["model"])
        if sharded:  # each process saw its own shards: agree on the verdict
            bad = agreed_first_nonfinite(bad)
        if bad is not None:
            raise EngineError(
                f"refusing to save checkpoint {name} at iteration {iteration}: {bad} holds NaN or inf "
                f"values; training stopped, the checkpoints already written are kept as they were "
                f"(newest: {self.checkpointer.last_name() or 'none'})")
        if sharded:
            model_state = payload.pop("model")
            path = self.checkpointer.save_sharded(name, model_state, payload, optimizer_order(self.model),
                                                  update_last=update_last)
        else:
            path = self.checkpointer.save(name, payload, update_last=update_last)
        comm.synchronize()  # rank 0 writes; nobody goes on before the file exists
        if update_last:
            self.saved_iter = iteration
        return path


def accepts_keyword(function, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def agreed_first_nonfinite(bad: Optional[str]) -> Optional[str]:
    """The first non-finite tensor any process found in its shards (a collective)."""
    if comm.get_world_size() == 1:
        return bad
    found = [None] * comm.get_world_size()
    torch.distributed.all_gather_object(found, bad)
    return next((name for name in found if name is not None), None)


def first_nonfinite(tree, prefix: str = "model") -> Optional[str]:
    """The dotted name of the first floating tensor in ``tree`` holding NaN or inf."""
    named = [(name, t) for name, t in iter_tensors(tree, prefix) if t.is_floating_point() or t.is_complex()]
    if all_finite(t for _, t in named):  # one check; names only when something is wrong
        return None
    return next(name for name, t in named if not all_finite([t]))
