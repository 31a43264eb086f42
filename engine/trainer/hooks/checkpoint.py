"""Checkpoints as hooks: periodic ones (``solver.checkpoint_period``, the newest
``solver.max_keep`` kept), ``model_best.pth`` (``solver.best_metric``) and Otter's
``ModelCheckpoint`` (the ``save_top_k`` best by a monitored metric, and ``save_last``).
``model_final.pth`` is the trainer's own, after the loop."""
import logging
import math
import os
from typing import Any, Dict, List

from ...checkpoint.checkpointer import periodic_name, read_entry
from ...utils.errors import ConfigError, EngineError
from ..best import BEST_NAME, MODES, BestTracker
from .base import BUILD_HOOK_REGISTRY, HookBase, Priority

__all__ = ["PeriodicCheckpoint", "BestCheckpoint", "ModelCheckpoint", "top_k_name", "LAST_NAME"]

logger = logging.getLogger("engine.trainer")

LAST_NAME = "model_last.pth"


def top_k_name(iteration: int) -> str:
    return f"model_top_{iteration:07d}.pth"


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
    (engine/trainer/best.py). Its state is the best so far; on resume the better of the
    checkpoint's and ``model_best.pth``'s own is kept."""

    priority = Priority.BEST

    def __init__(self, metric: str, mode: str):
        self.tracker = BestTracker(metric, mode)

    @property
    def state_key(self) -> str:
        return "best"

    def after_eval(self, results: Dict[str, float]) -> None:
        trainer = self.trainer
        done = trainer.iter + 1
        if self.tracker.update(results, done, f"the evaluator {type(trainer.evaluator).__name__}"):
            trainer.save_checkpoint(BEST_NAME, done, update_last=False)
            logger.info("new best: %s (%s)", self.tracker.describe(), BEST_NAME)

    def state_dict(self) -> Dict[str, Any]:
        return self.tracker.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.tracker.load_state_dict(state, "the checkpoint")
        best_path = os.path.join(self.trainer.checkpointer.folder, BEST_NAME)
        if os.path.isfile(best_path):
            self.tracker.load_state_dict((read_entry(best_path, "trainer") or {}).get("best"), best_path)
        logger.info("best so far: %s", self.tracker.describe())


@BUILD_HOOK_REGISTRY.register()
class ModelCheckpoint(HookBase):
    """Otter's ModelCheckpoint. After each evaluation: when ``monitor`` (a result of the
    evaluator) is among the ``save_top_k`` best so far (``mode`` 'max' or 'min'), save
    the full checkpoint as ``model_top_<iteration>.pth`` (named in ``last_checkpoint``:
    it is the newest state) and delete the one that fell out
    of the top k, except the newest checkpoint (``last_checkpoint``) and the one this run
    resumed from. ``save_top_k=-1`` keeps all, ``0`` none. ``save_last``: also write
    ``model_last.pth`` (the latest evaluated state) each time. The top-k list is
    checkpointed, so a resumed run ranks as the uninterrupted one."""

    priority = Priority.BEST

    def __init__(self, monitor: str, mode: str = "min", save_top_k: int = 1, save_last: bool = False,
                 verbose: bool = False):
        if str(mode).lower() not in MODES:
            raise ConfigError(f"ModelCheckpoint: mode must be 'max' or 'min', got {mode!r}")
        if int(save_top_k) < -1:
            raise ConfigError(f"ModelCheckpoint: save_top_k must be -1 (all), 0 or more, got {save_top_k}")
        self.monitor, self.mode = str(monitor), str(mode).lower()
        self.save_top_k, self.save_last, self.verbose = int(save_top_k), bool(save_last), bool(verbose)
        self.best: List[List] = []  # [value, iteration, name], best first

    def after_eval(self, results: Dict[str, float]) -> None:
        trainer = self.trainer
        if self.monitor not in results:
            raise EngineError(f"ModelCheckpoint: monitor {self.monitor!r} is not a result of the evaluator "
                              f"{type(trainer.evaluator).__name__}; it returns: {', '.join(sorted(results))}")
        done, value = trainer.iter + 1, float(results[self.monitor])
        if self.save_last:
            trainer.save_checkpoint(LAST_NAME, done, update_last=False)
        if self.save_top_k == 0 or not math.isfinite(value):
            return
        entries = [e for e in self.best if e[1] != done] + [[value, done, top_k_name(done)]]
        entries.sort(key=lambda e: (-e[0] if self.mode == "max" else e[0], e[1]))
        keep = entries if self.save_top_k < 0 else entries[: self.save_top_k]
        if all(e[1] != done for e in keep):
            return  # not among the best: nothing saved, nothing deleted
        self.best = keep  # before the save: the file is a resume point and holds this list
        trainer.save_checkpoint(top_k_name(done), done)  # the newest state: a resume point
        if self.verbose:
            logger.info("ModelCheckpoint: %s=%.6g at iteration %d is among the %s best", self.monitor, value,
                        done, self.save_top_k if self.save_top_k > 0 else "all")
        protected = {trainer.checkpointer.last_name(), os.path.basename(trainer.resumed_from or "")}
        for _, _, name in entries[len(keep):]:
            path = os.path.join(trainer.checkpointer.folder, name)
            if trainer.rank == 0 and name not in protected and os.path.isfile(path):
                os.unlink(path)

    def state_dict(self) -> Dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode, "best": [list(e) for e in self.best]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if (state.get("monitor"), state.get("mode")) == (self.monitor, self.mode):
            self.best = [list(e) for e in state.get("best", [])]
