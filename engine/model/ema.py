"""Exponential moving average of a network: torch's ``AveragedModel`` with a decay
warmup, an update period and a step count that is saved with it.

Each optimizer step of the network calls :meth:`ModelEMA.step`; every ``update_every``-th
one updates the average with torch's own EMA arithmetic
(``torch.optim.swa_utils.get_ema_multi_avg_fn``: ``ema += (1 - d) * (w - ema)``), where
the decay ``d`` depends on ``step``, the number of optimizer steps so far (1 at the first):

* ``warmup='none'``:  ``d = decay``
* ``warmup='exp'``:   ``d = decay * (1 - exp(-step / tau))``      (YOLOv5, timm)
* ``warmup='ratio'``: ``d = min(decay, (1 + step) / (10 + step))`` (TensorFlow's num_updates)

The first update copies the weights (``AveragedModel``'s rule). Buffers are averaged
too (``use_buffers=True``): floating ones (BatchNorm running statistics) with the same
decay, integer ones (``num_batches_tracked``) copied. So the EMA network can be
evaluated and exported as it is. The step count travels in ``state_dict`` (as
``_extra_state``), beside ``n_averaged``: a resumed run updates exactly as the
uninterrupted one.
"""
import math
from typing import Optional

import torch
from torch.optim.swa_utils import AveragedModel

from ..config.defaults import default_of
from ..utils.errors import ConfigError
from ..utils.registry import options_with_defaults

__all__ = ["ModelEMA", "build_ema", "ema_decay", "lerp_toward", "EMA_WARMUPS"]

EMA_WARMUPS = ("none", "exp", "ratio")
# trainer.model.ema's defaults, written once in engine/config/defaults.py
_DEFAULT = default_of("trainer.model.ema")


def ema_decay(decay: float, step: int, warmup: str = _DEFAULT["warmup"], tau: float = _DEFAULT["tau"]) -> float:
    """The decay used by the update after ``step`` optimizer steps (``step >= 1``)."""
    if warmup == "exp":
        return decay * (1.0 - math.exp(-step / tau))
    if warmup == "ratio":
        return min(decay, (1.0 + step) / (10.0 + step))
    return decay


class ModelEMA(AveragedModel):
    def __init__(self, network: torch.nn.Module, decay: float = _DEFAULT["decay_rate"],
                 warmup: str = _DEFAULT["warmup"], tau: float = _DEFAULT["tau"],
                 update_every: int = _DEFAULT["update_every"]):
        if not 0.0 <= float(decay) <= 1.0:  # get_ema_multi_avg_fn's check, which _average no longer calls
            raise ValueError(f"ModelEMA: decay must be in [0, 1], got {decay}")
        super().__init__(network, use_buffers=True)
        self.multi_avg_fn = self._average
        self.decay, self.warmup, self.tau, self.update_every = decay, warmup, tau, update_every
        self.num_steps = 0            # optimizer steps seen (updates happen every update_every)
        self.current_decay = decay    # the decay of the latest update
        self.requires_grad_(False)

    def step(self, network: torch.nn.Module) -> bool:
        """Count one optimizer step of ``network``; update the average when it is due.
        Returns whether it updated."""
        self.num_steps += 1
        if self.num_steps % self.update_every:
            return False
        self.current_decay = ema_decay(self.decay, self.num_steps, self.warmup, self.tau)
        self.update_parameters(network)
        return True

    def _average(self, ema_tensors, tensors, n_averaged) -> None:
        # AveragedModel groups tensors by device and dtype: one call per kind. Sharded
        # networks (trainer.fsdp) and their EMA are cut alike: average shard by shard.
        ema_tensors, tensors = _local(ema_tensors), _local(tensors)
        if torch.is_floating_point(ema_tensors[0]) or torch.is_complex(ema_tensors[0]):
            lerp_toward(ema_tensors, tensors, self.current_decay)
        else:
            torch._foreach_copy_(ema_tensors, tensors)

    def get_extra_state(self):
        return {"num_steps": self.num_steps}

    def set_extra_state(self, state) -> None:
        self.num_steps = int(state["num_steps"])

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        if "_extra_state" not in state_dict and "n_averaged" in state_dict:
            # written before the step count was saved: it equalled the update count
            state_dict = dict(state_dict, _extra_state={"num_steps": int(state_dict["n_averaged"])})
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def extra_repr(self) -> str:
        return (f"decay={self.decay}, warmup={self.warmup!r}, tau={self.tau}, "
                f"update_every={self.update_every}")


def lerp_toward(averages, values, decay: float) -> None:
    """``average += (1 - decay) * (value - average)`` for each pair, in one foreach call:
    ``get_ema_multi_avg_fn(decay)``'s arithmetic bit for bit, without building its
    ``no_grad``-decorated closure on every update (~20 us a step: functools.wraps and
    inspect). Floating-point tensors."""
    with torch.no_grad():
        torch._foreach_lerp_(averages, values, 1 - decay)


def _local(tensors):
    return [t.to_local() if hasattr(t, "to_local") else t for t in tensors]


def build_ema(network: torch.nn.Module, node, where: str = "trainer.model.ema") -> Optional[ModelEMA]:
    """The EMA a ``trainer.model.ema`` node asks for, or None when it is not enabled
    (missing keys take their defaults)."""
    cfg = options_with_defaults(node, _DEFAULT, where)
    if not cfg["enabled"]:
        return None
    decay = float(cfg["decay_rate"])
    if not 0.0 < decay < 1.0:
        raise ConfigError(f"{where}.decay_rate must be in (0, 1), got {decay}")
    warmup = str(cfg["warmup"]).lower()
    if warmup not in EMA_WARMUPS:
        raise ConfigError(f"{where}.warmup must be one of {list(EMA_WARMUPS)}, got {cfg['warmup']!r}")
    tau = cfg["tau"]
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0:
        raise ConfigError(f"{where}.tau must be a number > 0, got {tau!r}")
    every = cfg["update_every"]
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ConfigError(f"{where}.update_every must be an integer >= 1, got {every!r}")
    return ModelEMA(network, decay, warmup, float(tau), every)
from ..compat.seed.ema import EMA  # noqa: E402,F401  (the seed's name at its path: doc/seed.md)
