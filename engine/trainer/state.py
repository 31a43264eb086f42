"""The trainer's checkpoints: what one holds, saving it safely, and resuming from it.

A checkpoint is a ``torch.save``d dict: ``model`` (the bundle's state), ``iteration``
(completed steps), ``epoch`` (of the next step), ``data`` (what the sample-stream
position is derived from, resume_check.py), ``trainer`` (the non-finite skip count and
every hook's ``state_dict`` under its ``state_key``, NumPy values as Python numbers and
tensors: checkpoint/plain.py; ``stopped`` when a hook ended the
run early), ``rng``, ``config`` and ``engine_version``. Every state in it comes from
one registry, ``trainer.state_registry`` (state_registry.py; the trainer's own parts:
saved_parts.py); see doc/resume.md and doc/trainer.md#checkpointed-state-one-registry.
"""
import inspect
import logging
import os
from typing import Optional


from .. import __version__
from ..config.loader import dump_cfg
from ..checkpoint.names import FINAL
from ..checkpoint.io import iter_tensors
from ..checkpoint.weights import check_resume_fits
from ..data.sampler import epoch_at
from ..model.sharded_state import optimizer_order
from ..utils import comm
from ..utils.errors import ConfigError, EngineError
from ..utils.finite import all_finite
from .resume_check import data_position, report_config_changes
from .saved_parts import BundleState, DataPosition, RngState, StoppedState
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
                self.start_iter = int(payload["iteration"])
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
        """Every registered state from the checkpoint (state_registry.py: the bundle, RNG,
        data position with its checks, non-finite guard, hooks); the config changes since
        it; whether a hook had stopped the run (unless this session changed
        solver.max_iter or trainer.hooks: session.stop_lifted)."""
        self.resumed_from = path
        changes = report_config_changes(payload.get("config"), dump_cfg(self.cfg))
        self.state_registry.load_state_dict(payload)
        reason = self.stopped_state.saved_reason
        if reason and not stop_lifted(self, reason, changes):
            self.stop_request = StopRequest(reason)

    def register_saved_parts(self) -> None:
        """The trainer's saveable parts, in the order a resume loads them (hooks register
        themselves in register_hooks)."""
        self.stopped_state = StoppedState(self)
        registry = self.state_registry
        registry.register("model", BundleState(self), plain=False, what="the model bundle")
        registry.register("rng", RngState(self), plain=False, what="the RNG state")
        registry.register("data", DataPosition(self), what="the data position")
        registry.register("trainer.nonfinite", self.nonfinite_guard, missing={}, what="the non-finite guard")
        registry.register("trainer.stopped", self.stopped_state, what="the stop a hook asked for")

    def data_position(self, iteration: int) -> dict:
        size = len(self.train_set) if self.train_set is not None else None
        return data_position(self.cfg, iteration, size, self.world_size)

    def _epoch_at(self, iteration: int) -> Optional[int]:
        """The epoch of step ``iteration`` (0-based), as the sampler computes it."""
        if self.train_set is None or len(self.train_set) == 0:
            return None
        return epoch_at(iteration, int(self.cfg.SOLVER.TRAIN_PER_BATCH) * self.world_size, len(self.train_set))

    def checkpoint_payload(self, iteration: int, *, sharded: bool = False) -> dict:
        """Everything a resume needs: every registered state (``sharded``: the bundle's as
        this process's shards), with ``iteration`` (completed steps), ``epoch`` (of the next
        step), the config and the engine version."""
        self.saving_iteration = iteration
        bundle = self.state_registry.get("model")
        bundle.sharded = sharded
        try:
            payload = self.state_registry.state_dict()
        finally:
            bundle.sharded = False
        payload.update(iteration=iteration, epoch=self._epoch_at(iteration), config=dump_cfg(self.cfg),
                       engine_version=__version__)
        return payload

    def save_checkpoint(self, name: str, iteration: int, *, update_last: bool = True) -> Optional[str]:
        """Save ``checkpoints/<name>`` atomically (and name it in ``last_checkpoint``
        unless ``update_last`` is False). Refuses, with an error, to write a state that
        holds NaN or inf: the good checkpoints on disk stay the newest."""
        sharded = self.model.sharding is not None and name != FINAL
        payload = self.checkpoint_payload(iteration, sharded=sharded)
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
    return next((name for name in comm.all_gather_object(bad) if name is not None), None)


def first_nonfinite(tree, prefix: str = "model") -> Optional[str]:
    """The dotted name of the first floating tensor in ``tree`` holding NaN or inf."""
    named = [(name, t) for name, t in iter_tensors(tree, prefix) if t.is_floating_point() or t.is_complex()]
    if all_finite(t for _, t in named):  # one check; names only when something is wrong
        return None
    return next(name for name, t in named if not all_finite([t]))
