"""The seed's model-bundle contract (TrainFramework's ``BaseModel``), on top of ours.

A seed project's trainer switches the bundle with ``disable_train()`` /
``enable_train()`` and calls it: ``self.model(batch)`` in eval mode is inference,
``generator(batch)`` under the EMA weights when EMA is on (our
:meth:`~engine.model.base_model.BaseModel.inference_weights`); in train mode it is one
training step and returns the seed's step_info (the losses as numbers and ``lr``). Its
state methods (``get_state_dict`` / ``get_addition_state_dict`` / ``load_*``) and
attributes (``g_optimizer``, ``g_scheduler``, ``default_log_name``) read and write the
same objects our checkpoints hold. DDP/DP wrapping is the engine's (``enable_distribute``
only says so): a seed project that calls it does no harm.
"""
import logging

import torch

from .keys import lower  # noqa: F401  (engine.model.base_model.lower, the seed's name)

__all__ = ["SeedModelAPI", "ema_wrapper", "lower"]


def ema_wrapper(func):
    """Runs ``func(model, data)`` under the model's inference weights (the EMA copy when
    EMA is on), the seed's decorator for ``generator_imp``."""

    def ema_func(model, data):
        with model.inference_weights(autocast=False):
            return func(model, data)

    return ema_func


class SeedModelAPI:
    """BaseModel's seed-named methods and attributes (see the module docstring)."""

    EMA_KEY = "g_ema"

    @property
    def default_log_name(self) -> str:
        return self.cfg.OUTPUT_LOG_NAME

    @property
    def g_optimizer(self) -> torch.optim.Optimizer:
        return self.g_solver.optimizer

    @property
    def g_scheduler(self):
        return self.g_solver.lr_scheduler

    def enable_train(self) -> None:
        self.train(True)

    def disable_train(self) -> None:
        self.train(False)

    def __call__(self, data, *, epoch=None, **kwargs):
        if not all(net.training for net in self.networks):
            return self.generator_imp(data)
        result = self.train_iteration([data], epoch=epoch)
        step_info = dict(result.floats())
        step_info["lr"] = "*".join(str(lr) for lr in self.g_scheduler.get_last_lr())
        return step_info

    def generator_imp(self, data):
        """``generator(data)`` under the inference weights (EMA when on), eval mode, no grad."""
        with self.inference_weights(autocast=False):
            return self.generator(data)

    def get_state_dict(self) -> dict:
        """The networks' weights (and the EMA's), as the seed's checkpoints keep them."""
        state = {"g_model": self.unwrapped("g_model").state_dict()}
        if self.g_ema is not None:
            state[self.EMA_KEY] = self.g_ema.state_dict()
        return state

    def get_addition_state_dict(self) -> dict:
        """The optimizer's and LR schedule's state, and the config (as the seed's)."""
        return {"g_optimizer": self.g_optimizer.state_dict(), "g_scheduler": self.g_scheduler.state_dict(),
                "cfg": self.cfg.dump()}

    def load_addition_state_dict(self, state_dict: dict) -> None:
        self.g_optimizer.load_state_dict(state_dict["g_optimizer"])
        self.g_scheduler.load_state_dict(state_dict["g_scheduler"])

    def sync_batch_norm(self) -> torch.nn.Module:
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.unwrapped("g_model"))

    def enable_distribute(self, cfg) -> None:
        """The engine wraps the networks for DDP/DP itself (engine/model/parallel.py)."""
        logging.getLogger(self.default_log_name).info(
            "enable_distribute: the engine wraps the networks for %s itself", cfg.TRAINER.PARADIGM.TYPE)

    def enable_distribute_ddp(self, cfg) -> None:
        """The seed's DDP wrapping step (HEAD's spelling); the engine wraps the networks
        itself before training, so wrapping here would wrap twice: it only logs."""
        logging.getLogger(self.default_log_name).info(
            "enable_distribute_ddp: the engine wraps the networks in DistributedDataParallel itself")

    #: the released seed (engine_frame 3.0) spells it so; projects written against the
    #: wheel call or override this name
    enable_dirstribute_ddp = enable_distribute_ddp

    def enable_distribute_dp(self, cfg) -> None:
        """The seed's DataParallel step; the engine runs one process per device instead."""
        logging.getLogger(self.default_log_name).info(
            "enable_distribute_dp: the engine runs one process per GPU (DDP) instead of DataParallel")
