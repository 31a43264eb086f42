"""The built-in LR multiplier shapes, registered in ``LR_SCHEDULER_REGISTRY`` by name.

A shape is ``f(max_iter, **params) -> ParamScheduler``: the returned fvcore
``ParamScheduler`` maps progress ``where`` in [0, 1] to a factor applied to each base LR
(:class:`~engine.solver.lr_scheduler.LRMultiplier`). Warmup is added around any shape
by the builder (:func:`~engine.solver.lr_scheduler.with_warmup`), so shapes never
implement it themselves. :func:`exact`, :class:`Constant` and the other pieces are
public because the warmup is built from them too.
"""
import logging
import math
from typing import List

from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    CosineParamScheduler,
    ExponentialParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
)

from engine.utils.errors import ConfigError

from .build import LR_SCHEDULER_REGISTRY

__all__ = ["exact", "Constant", "PolyDecay", "LogExponential", "WarmupMultiStepLR", "WarmupStepLR",
           "WarmupCosineLR", "WarmupPolyLR", "WarmupExponentialLR", "WarmupConstantLR", "OneCycleLR"]

logger = logging.getLogger(__name__)


# fvcore compares `where + WHERE_EPSILON` against fractions; its fixed 1e-6 moves a
# boundary by eps*max_iter iterations, i.e. early for runs longer than 1e6 steps. Half
# an iteration is exact for every length: iteration i lands on the right side of a
# boundary at iteration b whether i < b or i >= b.
def exact(sched: ParamScheduler, max_iter: int) -> ParamScheduler:
    sched.WHERE_EPSILON = 0.5 / max_iter
    return sched


class Constant(ConstantParamScheduler):
    """fvcore's constant refuses ``where == 1``, which is reached after the last step."""

    def __call__(self, where: float) -> float:
        return self._value


class PolyDecay(ParamScheduler):
    """``end + (1 - end) * (1 - where) ** power``: fvcore's polynomial decays only to 0."""

    def __init__(self, power: float, end_value: float):
        self._power, self._end = power, end_value

    def __call__(self, where: float) -> float:
        return self._end + (1.0 - self._end) * (1.0 - min(where, 1.0)) ** self._power


class LogExponential(ParamScheduler):
    """``exp(log_total * where)``: ``gamma ** i`` without forming ``gamma ** max_iter``."""

    def __init__(self, log_total: float):
        self._log_total = log_total

    def __call__(self, where: float) -> float:
        return math.exp(self._log_total * where)


def _positive(name: str, value, integer: bool = False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


def _multistep(values: List[float], milestones: List[int], max_iter: int) -> ParamScheduler:
    if not milestones:
        return Constant(1.0)
    return exact(MultiStepParamScheduler(values, max_iter, milestones), max_iter)


@LR_SCHEDULER_REGISTRY.register()
def WarmupMultiStepLR(max_iter: int, steps: List[int], gamma: float = 0.1) -> ParamScheduler:
    """Multiply by ``gamma`` at each iteration in ``steps`` (like torch MultiStepLR)."""
    steps = list(steps)
    for s in steps:
        _positive(f"steps (each of {steps})", s, integer=True)
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ConfigError(f"steps must be strictly increasing, got {steps}")
    # Steps at or past max_iter never take effect; the seed's own example has one, so
    # they are tolerated (and documented) rather than refused.
    late = [s for s in steps if s >= max_iter]
    if late:
        logger.warning(
            "lr_scheduler_param.steps %s are at or past max_iter=%d and never take effect",
            late, max_iter,
        )
    steps = [int(s) for s in steps if s < max_iter]
    return _multistep([gamma**k for k in range(len(steps) + 1)], steps, max_iter)


@LR_SCHEDULER_REGISTRY.register()
def WarmupStepLR(max_iter: int, step_size: int, gamma: float = 0.1) -> ParamScheduler:
    """Multiply by ``gamma`` every ``step_size`` iterations (like torch StepLR)."""
    step_size = _positive("step_size", step_size, integer=True)
    steps = list(range(step_size, max_iter, step_size))
    return _multistep([gamma**k for k in range(len(steps) + 1)], steps, max_iter)


@LR_SCHEDULER_REGISTRY.register()
def WarmupCosineLR(max_iter: int, end_value: float = 0.0) -> ParamScheduler:
    """Half a cosine from 1 to ``end_value`` (a fraction of the base LR) at ``max_iter``."""
    return CosineParamScheduler(1.0, float(end_value))


@LR_SCHEDULER_REGISTRY.register()
def WarmupPolyLR(max_iter: int, power: float = 0.9, end_value: float = 0.0) -> ParamScheduler:
    """``(1 - iter/max_iter) ** power``, ending at ``end_value`` (like torch PolynomialLR)."""
    return PolyDecay(float(power), float(end_value))


@LR_SCHEDULER_REGISTRY.register()
def WarmupExponentialLR(max_iter: int, gamma: float = None, decay: float = None) -> ParamScheduler:
    """``gamma ** iter`` (torch ExponentialLR), or ``decay ** (iter/max_iter)`` (fvcore)."""
    if (gamma is None) == (decay is None):
        raise ConfigError(
            "give exactly one of 'gamma' (factor per iteration) or 'decay' "
            f"(factor reached at max_iter); got gamma={gamma!r}, decay={decay!r}"
        )
    if decay is None:
        log_gamma = math.log(_positive("gamma", gamma))
        return LogExponential(log_gamma * max_iter)
    return ExponentialParamScheduler(1.0, _positive("decay", decay))


@LR_SCHEDULER_REGISTRY.register()
def WarmupConstantLR(max_iter: int) -> ParamScheduler:
    """The base LR throughout: warmup alone, or a fixed LR."""
    return Constant(1.0)


@LR_SCHEDULER_REGISTRY.register()
def OneCycleLR(
    max_iter: int, pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4
) -> ParamScheduler:
    """Cosine rise from ``1/div_factor`` to 1 over ``pct_start``, then cosine fall to
    ``1/(div_factor*final_div_factor)``. The base LR is the peak (torch's ``max_lr``);
    the phase ends at iterations ``pct_start*max_iter`` and ``max_iter``, one later
    than torch's OneCycleLR."""
    if not 0.0 < pct_start < 1.0:
        raise ConfigError(f"pct_start must be in (0, 1), got {pct_start!r}")
    low = 1.0 / _positive("div_factor", div_factor)
    rise = CosineParamScheduler(low, 1.0)
    fall = CosineParamScheduler(1.0, low / _positive("final_div_factor", final_div_factor))
    return exact(
        CompositeParamScheduler([rise, fall], [pct_start, 1.0 - pct_start], ["rescaled"] * 2),
        max_iter,
    )
