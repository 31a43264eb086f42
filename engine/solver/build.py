"""The solver's name tables, and how a config's ``params`` become constructor kwargs.

Two registries, both open to users (``@OPTIMIZER_REGISTRY.register()``):

* ``OPTIMIZER_REGISTRY``: every ``torch.optim`` optimizer, by class name. LBFGS is left
  out: its ``step`` needs a closure the training loop never passes.
* ``LR_SCHEDULER_REGISTRY``: LR *multiplier shapes* (see :mod:`.lr_scheduler`), named by
  ``lr_scheduler_param.name``. A shape is ``f(max_iter, **params) -> ParamScheduler``,
  where the returned fvcore ``ParamScheduler`` maps progress ``where`` in [0, 1] to a
  factor applied to each base LR. Warmup is added around any shape by the builder, so
  shapes never implement it themselves.

Config keys arrive lower-cased (yacs stores them upper-case) while some torch
parameters are not (``CosineAnnealingLR(T_max=...)``), so :func:`fit_kwargs` matches
names case-insensitively against the constructor's signature.
"""
import difflib
import inspect
import logging
import math
from typing import Any, Dict, Iterable, List

import torch
from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    CosineParamScheduler,
    ExponentialParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
)

from engine.utils.errors import ConfigError
from engine.utils.registry import Registry

__all__ = ["OPTIMIZER_REGISTRY", "LR_SCHEDULER_REGISTRY", "fit_kwargs"]

logger = logging.getLogger(__name__)

OPTIMIZER_REGISTRY = Registry("OPTIMIZER")
OPTIMIZER_REGISTRY.__doc__ = "torch.optim.Optimizer classes by name (solver.*.optimizer.type)."

LR_SCHEDULER_REGISTRY = Registry("LR_SCHEDULER")
LR_SCHEDULER_REGISTRY.__doc__ = (
    "LR multiplier shapes f(max_iter, **params) -> ParamScheduler "
    "(solver.*.lr_scheduler.params.lr_scheduler_param.name)."
)

for _name in sorted(dir(torch.optim)):
    _cls = getattr(torch.optim, _name)
    if (
        isinstance(_cls, type)
        and issubclass(_cls, torch.optim.Optimizer)
        and _cls not in (torch.optim.Optimizer, torch.optim.LBFGS)
    ):
        OPTIMIZER_REGISTRY.register(_cls)


def fit_kwargs(fn, kwargs: Dict[str, Any], where: str, skip: Iterable[str] = ()) -> Dict[str, Any]:
    """Rename ``kwargs`` to ``fn``'s spelling and refuse what ``fn`` cannot take.

    ``skip`` names parameters the engine supplies itself (``params``, ``optimizer``):
    giving them in the config is an error too, since they would be overwritten.
    """
    name = getattr(fn, "__name__", repr(fn))
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return dict(kwargs)
    accepted = [
        p.name
        for p in sig.parameters.values()
        if p.name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    has_var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    by_lower = {a.lower(): a for a in accepted}
    out, unknown = {}, []
    for key, value in kwargs.items():
        _refuse_numeric_string(where, key, value)
        real = by_lower.get(str(key).lower())
        if real is None and not has_var_kw:
            unknown.append(key)
        out[real or key] = value
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key).lower(), list(by_lower), n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{by_lower[close[0]]}'?)" if close else ""))
        raise ConfigError(
            f"{where}: {name} has no parameter {', '.join(hints)}. "
            f"Valid parameters: {accepted}"
        )
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.name not in skip
        and p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in out
    ]
    if missing:
        raise ConfigError(f"{where}: {name} needs {missing}; valid parameters: {accepted}")
    return out


def _refuse_numeric_string(where: str, key: str, value) -> None:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; say so instead of a TypeError later."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return
        raise ConfigError(f"{where}: {key}={value!r} is a string, not a number. In YAML "
                          f"write numbers with a dot and a signed exponent, e.g. 1.0e-3.")


# --------------------------------------------------------------------------- shapes
# fvcore compares `where + WHERE_EPSILON` against fractions; its fixed 1e-6 moves a
# boundary by eps*max_iter iterations, i.e. early for runs longer than 1e6 steps. Half
# an iteration is exact for every length: iteration i lands on the right side of a
# boundary at iteration b whether i < b or i >= b.
def _exact(sched: ParamScheduler, max_iter: int) -> ParamScheduler:
    sched.WHERE_EPSILON = 0.5 / max_iter
    return sched


class _Constant(ConstantParamScheduler):
    """fvcore's constant refuses ``where == 1``, which is reached after the last step."""

    def __call__(self, where: float) -> float:
        return self._value


class _PolyDecay(ParamScheduler):
    """``end + (1 - end) * (1 - where) ** power``: fvcore's polynomial decays only to 0."""

    def __init__(self, power: float, end_value: float):
        self._power, self._end = power, end_value

    def __call__(self, where: float) -> float:
        return self._end + (1.0 - self._end) * (1.0 - min(where, 1.0)) ** self._power


class _LogExponential(ParamScheduler):
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
        return _Constant(1.0)
    return _exact(MultiStepParamScheduler(values, max_iter, milestones), max_iter)


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
    return _PolyDecay(float(power), float(end_value))


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
        return _LogExponential(log_gamma * max_iter)
    return ExponentialParamScheduler(1.0, _positive("decay", decay))


@LR_SCHEDULER_REGISTRY.register()
def WarmupConstantLR(max_iter: int) -> ParamScheduler:
    """The base LR throughout: warmup alone, or a fixed LR."""
    return _Constant(1.0)


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
    return _exact(
        CompositeParamScheduler([rise, fall], [pct_start, 1.0 - pct_start], ["rescaled"] * 2),
        max_iter,
    )
