"""The trainer's own saveable parts, registered in its StateRegistry (state_registry.py)
beside the bundle and the hooks: each says what it saves and what loading it means."""
import logging
from typing import Any, Optional

from ..utils.rng import capture_rng_state, restore_rng_state
from .resume_check import batch_keeping_stream, check_data_position
from .stopping import StopRequest

__all__ = ["BundleState", "RngState", "DataPosition", "StoppedState"]

logger = logging.getLogger("engine.trainer")


class BundleState:
    """``model``: the bundle's state; with sharded networks, a periodic save takes each
    process's shards (``sharded`` is set for that save: engine/model/sharded_state.py)."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.sharded = False

    def state_dict(self):
        from ..model.sharded_state import sharded

        model = self.trainer.model
        return sharded(model) if self.sharded else model.state_dict()

    def load_state_dict(self, state) -> None:
        self.trainer.model.load_state_dict(state)


class RngState:
    """``rng``: the Python, NumPy and torch generators (rank 0's: the same on every rank).
    The CUDA ones are put back on the device the trainer trains on, which need not be the
    current CUDA device (one process on ``cuda:1``)."""

    def __init__(self, trainer):
        self.trainer = trainer

    def state_dict(self):
        return capture_rng_state(self.trainer.model.device)

    def load_state_dict(self, state) -> None:
        restore_rng_state(state, self.trainer.model.device)


class DataPosition:
    """``data``: what the sample-stream position is derived from (resume_check.py). Loading
    it checks that this run continues the same stream, keeping the global batch when only
    the number of processes changed."""

    def __init__(self, trainer):
        self.trainer = trainer

    def state_dict(self):
        trainer = self.trainer
        return trainer.data_position(trainer.saving_iteration)

    def load_state_dict(self, saved) -> None:
        trainer = self.trainer
        if trainer.train_set is None:
            return
        self._keep_global_batch(saved)
        check_data_position(saved, trainer.data_position(trainer.start_iter), trainer.start_iter)

    def _keep_global_batch(self, saved: Optional[dict]) -> None:
        trainer = self.trainer
        kept = batch_keeping_stream(saved, trainer.cfg, trainer.world_size)
        if kept is None:
            return
        batch, accumulation = kept
        cfg, frozen = trainer.cfg, trainer.cfg.is_frozen()
        cfg.defrost()
        cfg.SOLVER.TRAIN_PER_BATCH, cfg.SOLVER.GRADIENT_ACCUMULATION_BATCH = batch, accumulation
        if frozen:
            cfg.freeze()
        logger.info("resume: written by %s process(es), continued on %d: solver.train_per_batch %s -> %d with "
                    "solver.gradient_accumulation_batch %d keeps the global batch of %s and the sample stream",
                    saved["world_size"], trainer.world_size, saved["train_per_batch"], batch, accumulation,
                    saved["global_batch"])


class StoppedState:
    """``trainer.stopped``: the reason a hook stopped the run early (not a signal's stop,
    which a resume continues from). Loaded, it is held in ``saved_reason`` for the trainer
    to decide (the stop is lifted when this session changed solver.max_iter or
    trainer.hooks: session.stop_lifted)."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.saved_reason: Optional[str] = None

    def state_dict(self) -> Any:
        stop: Optional[StopRequest] = self.trainer.stop_request
        return stop.reason if stop is not None and not stop.signum else None

    def load_state_dict(self, reason) -> None:
        self.saved_reason = str(reason) if reason else None
