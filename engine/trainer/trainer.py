"""The training loop. Small on purpose: read it top to bottom in :meth:`BaseTrainer.train`.

Each iteration runs a fixed, documented sequence:

    iterate_before(epoch) -> fetch k micro-batches -> model.train_iteration (forward,
    backward, non-finite guard, clip, step, LR schedule, EMA) -> iterate_after(epoch,
    loss_dict) -> log (every trainer.log_period) -> evaluate (every solver.eval_period;
    model_best.pth when solver.best_metric improves) -> checkpoint (every
    solver.checkpoint_period) -> stop here if SIGTERM/SIGINT arrived (save, exit 143/130)

and after the last one: evaluate, save ``model_final.pth``, ``after_loop()``.
Fault tolerance (resume, preemption, non-finite steps, best checkpoint) is described in
doc/resume.md; its parts live in preemption.py, nonfinite.py, best.py, resume_check.py.
Subclasses override the four seed hooks, or the ``build_*`` methods to change how the
model, datasets or evaluator are made.
"""
import inspect
import logging
import math
import os
import signal
import sys
import time
from typing import Dict, Optional

from tqdm import tqdm

from .. import __version__
from ..checkpoint.checkpointer import Checkpointer, periodic_name, read_entry
from ..checkpoint.io import iter_tensors
from ..config.loader import dump_cfg
from ..data.build import build_dataset, build_train_loader, build_val_loader
from ..data.sampler import epoch_at
from ..evaluation.build import build_evaluator
from ..evaluation.evaluator import run_evaluation
from ..model.build import build_model
from ..model.parallel import wrap_for_parallel
from ..utils import comm
from ..utils.finite import all_finite
from ..utils.errors import ConfigError, EngineError
from ..utils.rng import capture_rng_state, restore_rng_state
from .best import BEST_NAME, BestTracker
from .build import BUILD_TRAINER_REGISTRY
from .nonfinite import NonFiniteGuard, nonfinite_terms
from .preemption import StopSignals, TrainingInterrupted
from .resume_check import check_data_position, data_position, report_config_changes
from .writers import PeriodStats, format_log_line, open_writers, peak_memory_mb

__all__ = ["BaseTrainer", "run_dir_of"]

logger = logging.getLogger("engine.trainer")


def run_dir_of(cfg) -> str:
    return os.path.join(cfg.OUTPUT_DIR, cfg.OUTPUT_LOG_NAME)


@BUILD_TRAINER_REGISTRY.register()
class BaseTrainer:
    def __init__(self, cfg):
        self.cfg = cfg
        self.run_dir = run_dir_of(cfg)
        self.rank, self.world_size = comm.get_rank(), comm.get_world_size()
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        self.model = self.build_model(cfg)
        self.model.modules_to_device()
        self.model = self.wrap_model(self.model)  # DDP / DataParallel when several processes/GPUs
        self.train_set = self.build_dataset(cfg, "train")
        self.val_set = self.build_dataset(cfg, "val")
        self.evaluator = self.build_evaluator(cfg) if self.val_set is not None else None
        self._val_loader = None
        self.checkpointer = Checkpointer(
            os.path.join(self.run_dir, "checkpoints"), cfg.SOLVER.MAX_KEEP, enabled=self.rank == 0
        )
        self.start_iter = 0
        self.iter = 0
        self.latest_eval: Dict[str, float] = {}
        # fault tolerance (doc/resume.md)
        self.best_tracker = BestTracker(cfg.SOLVER.BEST_METRIC, cfg.SOLVER.BEST_MODE)
        if self.best_tracker.enabled and self.val_set is None:
            raise ConfigError(f"solver.best_metric {cfg.SOLVER.BEST_METRIC!r} needs a validation dataset "
                              f"(dataloader.val_data_set.name is empty)")
        self.nonfinite_guard = NonFiniteGuard(cfg.SOLVER.SKIP_NONFINITE_STEPS,
                                              lambda: list(getattr(self.model, "networks", [])))
        self.stop_signals = StopSignals()
        self._saved_iter: Optional[int] = None  # iteration of the newest checkpoint saved

    # ------------------------------------------------------------ the seed's hooks
    def before_loop(self):
        """Called once before the first iteration (also after a resume)."""

    def after_loop(self):
        """Called once after the last iteration, final evaluation and checkpoint."""

    def iterate_before(self, epoch):
        """Called before each iteration."""

    def iterate_after(self, epoch, loss_dict):
        """Called after each optimizer step with that step's losses (python floats)."""

    # ------------------------------------------------------------ building
    def build_model(self, cfg):
        return build_model(cfg)

    def wrap_model(self, model):
        """Wrap the bundle's trained networks for the parallel mode (DDP when several
        processes train, DataParallel for trainer.parallel 'dp'); see
        engine/model/parallel.py. Override to wrap differently; return the bundle."""
        return wrap_for_parallel(model, self.cfg)

    def build_dataset(self, cfg, split: str):
        key = "TRAIN_DATA_SET" if split == "train" else "VAL_DATA_SET"
        return build_dataset(cfg.DATALOADER[key], f"dataloader.{key.lower()}")

    def build_evaluator(self, cfg):
        return build_evaluator(cfg.TRAINER.EVALUATOR)

    # ------------------------------------------------------------ state
    def resume_or_load(self, resume: bool = True) -> str:
        """--resume: continue from the newest complete checkpoint (fresh start if none).
        Otherwise load ``trainer.weights`` into the generator, if set. Returns what was
        loaded: 'checkpoint', 'weights' or ''."""
        if resume:
            self.checkpointer.remove_stale_temporaries()
            found = self.checkpointer.load_latest()
            failures = self.checkpointer.load_failures
            if found is not None:
                path, payload = found
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
                    f"--resume: none of the {len(failures)} checkpoint(s) in {self.checkpointer.folder!r} "
                    f"loads: " + "; ".join(f"{p} ({reason})" for p, reason in failures)
                    + "; move them away to start this run from scratch")
            logger.info("--resume: no checkpoint in %s; starting from scratch", self.checkpointer.folder)
        if self.cfg.TRAINER.WEIGHTS:
            self.model.load_generator_weights(self.cfg.TRAINER.WEIGHTS, self.cfg.TRAINER.WEIGHTS_PREFIXES)
            return "weights"
        return ""

    def restore_trainer_state(self, payload: dict, path: str) -> None:
        """The trainer's own part of a checkpoint: the best evaluation so far (also read
        from model_best.pth, which may be newer), the count of skipped non-finite steps;
        then check that the data stream and config still match the checkpoint's."""
        state = payload.get("trainer") or {}
        self.nonfinite_guard.load_state_dict(state.get("nonfinite") or {})
        if self.best_tracker.enabled:
            self.best_tracker.load_state_dict(state.get("best"), path)
            best_path = os.path.join(self.checkpointer.folder, BEST_NAME)
            if os.path.isfile(best_path):
                self.best_tracker.load_state_dict((read_entry(best_path, "trainer") or {}).get("best"), best_path)
            logger.info("best so far: %s", self.best_tracker.describe())
        if self.train_set is not None:
            check_data_position(payload.get("data"), self._data_position(self.start_iter), self.start_iter)
        report_config_changes(payload.get("config"), dump_cfg(self.cfg))

    def _data_position(self, iteration: int) -> dict:
        size = len(self.train_set) if self.train_set is not None else None
        return data_position(self.cfg, iteration, size, self.world_size)

    def _epoch_at(self, iteration: int) -> Optional[int]:
        """The epoch of step ``iteration`` (0-based), as the sampler computes it."""
        if self.train_set is None or len(self.train_set) == 0:
            return None
        return epoch_at(iteration, int(self.cfg.SOLVER.TRAIN_PER_BATCH) * self.world_size, len(self.train_set))

    def checkpoint_payload(self, iteration: int) -> dict:
        """Everything a resume needs. ``iteration`` = completed steps; ``epoch`` = the epoch
        of the next step; ``data`` = what the sample-stream position is derived from."""
        return {
            "model": self.model.state_dict(),
            "iteration": iteration,
            "epoch": self._epoch_at(iteration),
            "data": self._data_position(iteration),
            "trainer": {"best": self.best_tracker.state_dict(), "nonfinite": self.nonfinite_guard.state_dict()},
            "rng": capture_rng_state(),
            "config": dump_cfg(self.cfg),
            "engine_version": __version__,
        }

    def save_checkpoint(self, name: str, iteration: int, *, update_last: bool = True) -> Optional[str]:
        """Save ``checkpoints/<name>`` atomically (and name it in ``last_checkpoint``
        unless ``update_last`` is False). Refuses, with an error, to write a state that
        holds NaN or inf: the good checkpoints on disk stay the newest."""
        payload = self.checkpoint_payload(iteration)
        bad = first_nonfinite(payload["model"])
        if bad is not None:
            raise EngineError(
                f"refusing to save checkpoint {name} at iteration {iteration}: {bad} holds NaN or inf "
                f"values; training stopped, the checkpoints already written are kept as they were "
                f"(newest: {self.checkpointer.last_name() or 'none'})")
        path = self.checkpointer.save(name, payload, update_last=update_last)
        comm.synchronize()  # rank 0 writes; nobody goes on before the file exists
        if update_last:
            self._saved_iter = iteration
        return path

    # ------------------------------------------------------------ the loop
    def train(self) -> None:
        if self.train_set is None:
            raise ConfigError("dataloader.train_data_set.name is not set: name the training dataset")
        if self.start_iter >= self.max_iter:
            logger.info("training already complete (iteration %d of solver.max_iter %d)",
                        self.start_iter, self.max_iter)
            return
        loader, sampler = build_train_loader(
            self.train_set, self.cfg, start_iter=self.start_iter, device=self.model.device,
            rank=self.rank, world_size=self.world_size)
        accumulation = sampler.accumulation
        train_step = self._guarded_train_iteration()
        self._open_outputs()
        logger.info("training from iteration %d to %d: %d samples, %d per step on %d process(es)",
                    self.start_iter, self.max_iter, len(self.train_set), sampler.global_batch, self.world_size)
        self.before_loop()
        batches = iter(loader)
        try:
            with self.stop_signals.installed():  # SIGTERM/SIGINT: finish the step, save, exit
                for self.iter in range(self.start_iter, self.max_iter):
                    epoch = sampler.epoch_at(self.iter)
                    self.iterate_before(epoch)
                    start = time.perf_counter()
                    micro_batches = [next(batches) for _ in range(accumulation)]
                    data_time = time.perf_counter() - start
                    self._step_lr = self.model.lr  # the rate this step trains with
                    losses = train_step(micro_batches, epoch)
                    loss_dict = {name: float(value) for name, value in losses.items()}
                    iter_time = time.perf_counter() - start
                    skipped = self.nonfinite_guard.skipped_now
                    if skipped:
                        self._record_skip(loss_dict, skipped)
                    else:
                        self._check_finite(loss_dict)
                        self.iterate_after(epoch, loss_dict)
                    self._after_step(epoch, loss_dict, data_time, iter_time, skipped=bool(skipped))
                    if self.iter + 1 < self.max_iter:
                        signum = self.stop_signals.requested()
                        if signum:
                            self._stop_on_signal(signum)
                self.iter = self.max_iter
                if self.val_set is not None:
                    self._evaluate_and_track(self.max_iter)
                self.save_checkpoint("model_final.pth", self.max_iter)
        finally:
            batches = None  # shut the loader's workers down now, not when the traceback is freed
            self._close_outputs()
        self.after_loop()

    def _guarded_train_iteration(self):
        """``model.train_iteration`` with the non-finite guard as its ``before_step``."""
        guard, train_iteration = self.nonfinite_guard, self.model.train_iteration
        guarded = {"before_step": guard} if accepts_keyword(train_iteration, "before_step") else {}
        if not guarded and guard.max_skips:
            raise ConfigError(
                f"solver.skip_nonfinite_steps needs {type(self.model).__name__}.train_iteration to take "
                f"a before_step= argument (BaseModel.train_iteration does); set it to 0 or pass it on")

        def step(micro_batches, epoch):
            guard.begin(self.iter)
            return train_iteration(micro_batches, epoch=epoch, **guarded)
        return step

    def _stop_on_signal(self, signum: int) -> None:
        """Save the state after the step just finished, then exit with 143/130."""
        done, name = self.iter + 1, signal.Signals(signum).name
        logger.warning("%s received: stopping after iteration %d of %d", name, done, self.max_iter)
        if self._saved_iter != done:
            self.save_checkpoint(periodic_name(done), done)
        path = os.path.join(self.checkpointer.folder, periodic_name(done))
        interrupted = TrainingInterrupted(signum, done, path)
        logger.warning("stopped by %s after iteration %d: checkpoint %s saved; run the same command with "
                       "--resume to continue (exit status %d)", name, done, path, interrupted.code)
        raise interrupted

    def _record_skip(self, loss_dict, reason: str) -> None:
        done, guard = self.iter + 1, self.nonfinite_guard
        terms = nonfinite_terms(loss_dict)
        logger.warning("iteration %d: non-finite %s (%s): step skipped, %d of solver.skip_nonfinite_steps=%d used",
                       done, reason, ", ".join(f"{n}={loss_dict[n]}" for n in terms) or "losses finite",
                       guard.skipped, guard.max_skips)
        if self.rank == 0 and getattr(self, "_metrics", None) is not None:
            self._metrics.write({"type": "skip", "iter": done, "reason": reason, "nonfinite": terms,
                                 "skipped_total": guard.skipped})

    def _evaluate_and_track(self, step: int) -> Dict[str, float]:
        """Evaluate; save model_best.pth when solver.best_metric improves."""
        results = self.evaluate(step)
        if self.best_tracker.update(results, step, f"the evaluator {type(self.evaluator).__name__}"):
            self.save_checkpoint(BEST_NAME, step, update_last=False)
            logger.info("new best: %s (%s)", self.best_tracker.describe(), BEST_NAME)
        return results

    def _after_step(self, epoch: int, loss_dict, data_time: float, iter_time: float,
                    skipped: bool = False) -> None:
        done = self.iter + 1
        if not skipped:  # a skipped step's NaN would poison the period's means
            self._stats.add(loss_dict, data_time, iter_time)
        self._progress.update(1)
        period = max(1, int(self.cfg.TRAINER.LOG_PERIOD))
        if (done % period == 0 or done == self.max_iter) and self._stats.count:  # not only skipped steps
            self._log_period(epoch)
        if done == self.max_iter:
            return  # final evaluation and checkpoint follow the loop
        eval_period = int(self.cfg.SOLVER.EVAL_PERIOD)
        if self.val_set is not None and eval_period > 0 and done % eval_period == 0:
            self._evaluate_and_track(done)
        if done % max(1, int(self.cfg.SOLVER.CHECKPOINT_PERIOD)) == 0:
            self.save_checkpoint(periodic_name(done), done)

    def _check_finite(self, loss_dict) -> None:
        """For bundles whose train_iteration has no before_step (the guard then runs
        after the step; the state is not saved since checkpoints refuse NaN)."""
        if any(not math.isfinite(value) for value in loss_dict.values()):
            raise EngineError(self.nonfinite_guard.stop_message(loss_dict))

    # ------------------------------------------------------------ evaluation
    def evaluate(self, step: int) -> Dict[str, float]:
        """Run the evaluator on the validation set; ``step`` = completed iterations."""
        if self._val_loader is None:  # built once; iterating it again restarts it
            self._val_loader = build_val_loader(self.val_set, self.cfg, device=self.model.device,
                                                rank=self.rank, world_size=self.world_size)
        results = run_evaluation(self.model, self._val_loader, self.evaluator)
        self.latest_eval = results
        if self.rank == 0 and getattr(self, "_metrics", None) is not None:
            self._metrics.write({"type": "eval", "iter": step, **results})
            self._tensorboard.write("eval", results, step)
        return results

    def test(self) -> Dict[str, float]:
        """--eval-only: evaluate the loaded weights, record the results, train nothing."""
        if self.val_set is None:
            raise ConfigError("--eval-only needs dataloader.val_data_set.name")
        self._open_outputs(progress=False)
        try:
            return self.evaluate(self.start_iter)
        finally:
            self._close_outputs()

    # ------------------------------------------------------------ outputs
    def _open_outputs(self, progress: bool = True) -> None:
        self._stats = PeriodStats()
        self._metrics = self._tensorboard = None
        if self.rank == 0:
            self._metrics, self._tensorboard = open_writers(self.run_dir)
        show = bool(self.cfg.TRAINER.PROGRESS_BAR) and progress and self.rank == 0
        self._progress = tqdm(total=self.max_iter, initial=self.start_iter, desc="train",
                              dynamic_ncols=True, file=sys.stderr, disable=None if show else True)

    def _close_outputs(self) -> None:
        for writer in (getattr(self, "_metrics", None), getattr(self, "_tensorboard", None)):
            if writer is not None:
                writer.close()
        if getattr(self, "_progress", None) is not None:
            self._progress.close()

    def _log_period(self, epoch: int) -> None:
        stats, done = self._stats, self.iter + 1
        iter_time = stats.iter_time / max(stats.count, 1)
        record = {
            "type": "train", "iter": done, "epoch": epoch,
            "losses": comm.reduce_mean_dict(stats.means()),  # mean over processes: one all_reduce
            "lr": self._step_lr, "data_time": stats.data_time / max(stats.count, 1),
            "iter_time": iter_time, "eta_seconds": iter_time * (self.max_iter - done),
            "max_mem_mb": peak_memory_mb(self.model.device), "device": self.model.device.type,
        }
        stats.reset()
        if self.rank != 0:
            return
        record["extra"] = self.model.log_values()  # discriminators' lr, AMP scale, skipped steps
        logger.info(format_log_line(record, self.max_iter))
        self._progress.set_postfix(loss=f"{sum(record['losses'].values()):.4g}", refresh=False)
        flat = {k: v for k, v in record.items() if k not in ("losses", "type", "device", "extra")}
        self._metrics.write({"type": "train", **flat, **record["losses"], **record["extra"]})
        self._tensorboard.write("train", {**record["losses"], "lr": record["lr"],
                                          "data_time": record["data_time"],
                                          "iter_time": record["iter_time"], **record["extra"]}, done)


def accepts_keyword(function, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def first_nonfinite(tree, prefix: str = "model") -> Optional[str]:
    """The dotted name of the first floating tensor in ``tree`` holding NaN or inf."""
    named = [(name, t) for name, t in iter_tensors(tree, prefix) if t.is_floating_point() or t.is_complex()]
    if all_finite(t for _, t in named):  # one check; names only when something is wrong
        return None
    return next(name for name, t in named if not all_finite([t]))
