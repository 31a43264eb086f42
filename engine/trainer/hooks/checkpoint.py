"""Checkpoints as hooks: periodic ones (``solver.checkpoint_period``, the newest
``solver.max_keep`` kept), ``model_best.pth`` (``solver.best_metric``) and Otter's
``ModelCheckpoint`` (the ``save_top_k`` best by a monitored metric, and ``save_last``).
``model_final.pth`` is the trainer's own, after the loop. The file names are
engine/checkpoint/names.py's; which evaluation is best is engine/trainer/best.py's rule."""
import logging
import math
import os
from typing import Any, Dict, Set

from ...checkpoint.names import BEST, LAST_EVALUATED, periodic_name, top_k_name
from ...utils.errors import ConfigError
from ..best import BestTracker
from .base import BUILD_HOOK_REGISTRY, HookBase, Priority, TrackingHook

__all__ = ["PeriodicCheckpoint", "BestCheckpoint", "ModelCheckpoint", "top_k_name", "LAST_NAME"]

logger = logging.getLogger("engine.trainer")

LAST_NAME = LAST_EVALUATED  # the name this module exported before names.py held it


class PeriodicCheckpoint(HookBase):
    """``checkpoints/model_<iteration>.pth`` every ``period`` steps (not after the last:
    ``model_final.pth`` follows it)."""

    priority = Priority.CHECKPOINT

    def __init__(self, period: int):
        self.period = max(1, int(period))

    def after_step(self) -> None:
        done = self.trainer.iter + 1
        if done % self.period == 0 and done != self.trainer.max_iter:
            self.trainer.save_checkpoint(periodic_name(done), done)


class BestCheckpoint(HookBase):
    """``model_best.pth`` after an evaluation that improves ``solver.best_metric``
    (engine/trainer/best.py). Its state, the best so far (``payload['trainer']['best']``),
    is the one source of the best on resume: the checkpoint the run resumed from says
    what the run had reached there, and the run goes on from that, as the run that wrote
    it did (``model_best.pth`` is not read back: it is for deployment, not resume)."""

    priority = Priority.BEST

    def __init__(self, metric: str, mode: str):
        self.tracker = BestTracker(metric, mode)

    @property
    def state_key(self) -> str:
        return "best"

    def after_eval(self, results: Dict[str, float]) -> None:
        tracker, done = self.tracker, self.trainer.iter + 1
        value = tracker.read(results, type(self.trainer.evaluator).__name__)
        if not math.isfinite(value):
            logger.warning("evaluation at iteration %d: %s=%s is not finite; %s is kept", done, tracker.metric,
                           value, BEST)
        elif tracker.offer(value, done) is not None:
            self.trainer.save_checkpoint(BEST, done, update_last=False)
            logger.info("new best: %s (%s)", tracker.describe(), BEST)

    def state_dict(self) -> Dict[str, Any]:
        tracker = self.tracker
        return {"metric": tracker.metric, "mode": tracker.mode, "value": tracker.value, "iteration": tracker.iteration}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        tracker = self.tracker
        if state and state.get("value") is not None:
            if (state.get("metric"), state.get("mode")) == (tracker.metric, tracker.mode):
                tracker.entries = [(float(state["value"]), int(state["iteration"]))]
            else:
                logger.warning("the checkpoint holds the best for %s (%s), this run tracks %s (%s): %s will be "
                               "replaced at the next evaluation", state.get("metric"), state.get("mode"),
                               tracker.metric, tracker.mode, BEST)
        logger.info("best so far: %s", tracker.describe())


@BUILD_HOOK_REGISTRY.register()
class ModelCheckpoint(TrackingHook):
    """Otter's ModelCheckpoint. After each evaluation: when ``monitor`` (a result of the
    evaluator) is among the ``save_top_k`` best so far (``mode`` 'max' or 'min'), save
    the full checkpoint as ``model_top_<iteration>.pth`` (named in ``last_checkpoint``:
    it is the newest state) and delete the one that fell out of the top k, except the
    newest checkpoint (``last_checkpoint``), the one this run resumed from and one another
    ModelCheckpoint keeps. ``save_top_k=-1`` keeps all, ``0`` none. ``save_last``: also
    write ``model_last.pth`` (the latest evaluated state) each time. The top-k list is
    checkpointed under a key naming the monitor and mode (Lightning's), so two of them on
    different monitors each resume their own list, and a resumed run ranks as the
    uninterrupted one; a checkpoint that kept it under ``ModelCheckpoint`` still resumes."""

    priority = Priority.BEST

    def __init__(self, monitor: str, mode: str = "min", save_top_k: int = 1, save_last: bool = False,
                 verbose: bool = False):
        super().__init__(monitor, mode, keep=int(save_top_k))
        if int(save_top_k) < -1:
            raise ConfigError(f"ModelCheckpoint: save_top_k must be -1 (all), 0 or more, got {save_top_k}")
        self.save_top_k, self.save_last, self.verbose = int(save_top_k), bool(save_last), bool(verbose)

    def kept_files(self) -> Set[str]:
        return {top_k_name(iteration) for _, iteration in self.tracker.entries}

    def after_eval(self, results: Dict[str, float]) -> None:
        trainer = self.trainer
        value, done = self.tracker.read(results, type(trainer.evaluator).__name__), trainer.iter + 1
        if self.save_last:
            trainer.save_checkpoint(LAST_EVALUATED, done, update_last=False)
        dropped = self.tracker.offer(value, done)  # before the save: the file is a resume point and holds it
        if dropped is None:
            return  # not among the best: nothing saved, nothing deleted
        trainer.save_checkpoint(top_k_name(done), done)  # the newest state: a resume point
        if self.verbose:
            logger.info("ModelCheckpoint: %s=%.6g at iteration %d is among the %s best", self.monitor, value,
                        done, self.save_top_k if self.save_top_k > 0 else "all")
        protected = {trainer.checkpointer.last_name(), os.path.basename(trainer.resumed_from or "")}
        for hook in trainer.hooks:
            if isinstance(hook, ModelCheckpoint) and hook is not self:
                protected |= hook.kept_files()
        for _, iteration in dropped:
            path = os.path.join(trainer.checkpointer.folder, top_k_name(iteration))
            if trainer.rank == 0 and top_k_name(iteration) not in protected and os.path.isfile(path):
                os.unlink(path)

    def state_dict(self) -> Dict[str, Any]:
        best = [[value, iteration, top_k_name(iteration)] for value, iteration in self.tracker.entries]
        return {"monitor": self.monitor, "mode": self.mode, "best": best}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if (state.get("monitor"), state.get("mode")) == (self.monitor, self.mode):
            self.tracker.entries = [(float(e[0]), int(e[1])) for e in state.get("best", [])]
