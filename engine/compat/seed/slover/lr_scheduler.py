"""The seed's LR schedulers, by its names and constructor arguments, on our schedules.

``LRMultiplierScheduler`` is our :class:`LRMultiplier` with the shape and warmup our
config path builds (``_build_multiplier``); ``WarmupPolynomialDecay`` is ours with the
seed's positional order. ``WarmupMultiStepLR`` and ``WarmupCosineLR`` are the seed's
older per-iteration closed forms (the warmup factor *multiplies* the shape there, it
does not ramp to it), sharing our polynomial scheduler's warmup factor and stateless
``state_dict``. Past ``max_iter`` every schedule holds its last value.
"""
import math
from bisect import bisect_right
from typing import List

import torch
from fvcore.common.param_scheduler import (CompositeParamScheduler, ConstantParamScheduler,
                                           LinearParamScheduler, ParamScheduler)

from engine.solver.lr_scheduler import LRMultiplier, _build_multiplier
from engine.solver.lr_scheduler import WarmupPolynomialDecay as _PolynomialDecay
from engine.utils.errors import ConfigError

__all__ = ["WarmupParamScheduler", "LRMultiplierScheduler", "WarmupMultiStepLR", "WarmupCosineLR",
           "EmptyLRScheduler", "WarmupPolynomialDecay"]

_LRScheduler = torch.optim.lr_scheduler.LRScheduler


class WarmupParamScheduler(CompositeParamScheduler):
    """fvcore's composite of a warmup ramp and ``scheduler``, for projects that compose
    their own ``LRMultiplier`` shapes (detectron2's class, as the seed has it)."""

    def __init__(self, scheduler: ParamScheduler, warmup_factor: float, warmup_length: float,
                 warmup_method: str = "linear"):
        start, end = warmup_factor * scheduler(0.0), scheduler(warmup_length)
        if warmup_method == "constant":
            warmup = ConstantParamScheduler(start)
        elif warmup_method == "linear":
            warmup = LinearParamScheduler(start, end)
        else:
            raise ValueError(f"Unknown warmup method: {warmup_method}")
        super().__init__([warmup, scheduler], interval_scaling=["rescaled", "fixed"],
                         lengths=[warmup_length, 1 - warmup_length])


class _Scaled(ParamScheduler):
    """``scale * inner``: a cosine from ``s`` to ``e`` is ``s`` times one from 1 to ``e/s``."""

    def __init__(self, inner, scale: float):
        self._inner, self._scale = inner, scale

    def __call__(self, where: float) -> float:
        return self._scale * self._inner(where)


class LRMultiplierScheduler(LRMultiplier):
    """The seed's ``LRMultiplierScheduler(optimizer, warmup_factor, warmup_iter,
    lr_scheduler_param, max_iter)``: any shape of our LR_SCHEDULER_REGISTRY by name."""

    def __init__(self, optimizer, warmup_factor, warmup_iter, lr_scheduler_param: dict,
                 max_iter: int, last_iter: int = -1, warmup_method: str = "linear"):
        shape = dict(lr_scheduler_param)
        scale = float(shape.pop("start_value", 1.0))
        if scale != 1.0:
            if shape.get("name") != "WarmupCosineLR" or scale <= 0:
                raise ConfigError(f"lr_scheduler_param.start_value={scale} is only known to "
                                  f"WarmupCosineLR, as a number > 0")
            shape["end_value"] = float(shape.get("end_value", 0.0)) / scale
        # The seed lets warmup cover the whole run (min(warmup_iter / max_iter, 1))
        warmup_iter = min(int(warmup_iter), int(max_iter))
        params = {"lr_scheduler_param": shape, "max_iter": max_iter, "warmup_iter": warmup_iter,
                  "warmup_factor": warmup_factor, "warmup_method": warmup_method}
        multiplier, total = _build_multiplier(params, max_iter, "LRMultiplierScheduler")
        if scale != 1.0:
            multiplier = _Scaled(multiplier, scale)
        self.max_iter = total
        super().__init__(optimizer, multiplier, total, last_iter=last_iter)


class _ClosedForm(_LRScheduler):
    """lr = base * warmup factor(i) * shape(i); stateless like our schedulers."""

    _factor = _PolynomialDecay._factor
    state_dict = LRMultiplier.state_dict
    load_state_dict = LRMultiplier.load_state_dict

    def __init__(self, optimizer, warmup_factor, warmup_iter, warmup_method, last_epoch):
        if warmup_method not in ("linear", "constant"):
            raise ValueError(f"Unknown warmup method: {warmup_method}")
        self.warmup_factor, self.warmup_iter = float(warmup_factor), int(warmup_iter)
        self.warmup_method = warmup_method
        super().__init__(optimizer, last_epoch)

    def _shape(self, i: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> List[float]:
        i = max(self.last_epoch, 0)
        factor = self._factor(i) * self._shape(i)
        return [base * factor for base in self.base_lrs]

    def _compute_values(self) -> List[float]:
        return self.get_lr()


class WarmupMultiStepLR(_ClosedForm):
    def __init__(self, optimizer, milestones: List[int], gamma: float = 0.1,
                 warmup_factor: float = 0.001, warmup_iter: int = 1000,
                 warmup_method: str = "linear", last_epoch: int = -1):
        if list(milestones) != sorted(milestones):
            raise ValueError(f"Milestones should be a list of increasing integers. Got {milestones}")
        self.milestones, self.gamma = list(milestones), gamma
        super().__init__(optimizer, warmup_factor, warmup_iter, warmup_method, last_epoch)

    def _shape(self, i: int) -> float:
        return self.gamma ** bisect_right(self.milestones, i)


class WarmupCosineLR(_ClosedForm):
    def __init__(self, optimizer, max_iter: int, warmup_factor: float = 0.001,
                 warmup_iter: int = 1000, warmup_method: str = "linear", last_epoch: int = -1):
        self.max_iter = max_iter
        super().__init__(optimizer, warmup_factor, warmup_iter, warmup_method, last_epoch)

    def _shape(self, i: int) -> float:
        # the seed's cosine rises again past max_iter; it ends there
        return 0.5 * (1.0 + math.cos(math.pi * min(i, self.max_iter) / self.max_iter))


class EmptyLRScheduler(_LRScheduler):
    """A schedule that leaves the LR alone (the seed's stand-in for ``enabled: False``)."""

    def __init__(self, optimizer):
        super().__init__(optimizer)

    def step(self, epoch=None):
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class WarmupPolynomialDecay(_PolynomialDecay):
    """Ours, taking positional arguments in the seed's order (``last_epoch`` fifth)."""

    def __init__(self, optimizer, max_iter: int, end_lr=0.0001, power=1.0, last_epoch=-1,
                 warmup_factor: float = 0.001, warmup_iter: int = 1000,
                 warmup_method: str = "linear", simple: bool = True):
        super().__init__(optimizer, max_iter, end_lr=end_lr, power=power,
                         warmup_factor=warmup_factor, warmup_iter=warmup_iter,
                         warmup_method=warmup_method, simple=simple, last_epoch=last_epoch)
