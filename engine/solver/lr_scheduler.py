"""LR schedules as stateless functions of progress, wrapped once as a torch scheduler.

:class:`LRMultiplier` sets ``lr = base_lr * multiplier(iter / max_iter)`` for every
param group. The multiplier is an fvcore ``ParamScheduler`` (a pure function), so the
only state is the iteration counter (plus the base LRs): a resumed run recomputes
exactly the LR the uninterrupted run would have used, however long it ran before.

Stepping convention (the same as torch's schedulers): after construction the optimizer
holds the LR for iteration 0; call ``scheduler.step()`` once after each
``optimizer.step()``; iteration ``i`` (0-based) then trains with ``multiplier(i/max_iter)``.

Warmup wraps any shape (detectron2's convention): for ``i < warmup_iter`` the factor
rises linearly from ``warmup_factor * shape(0)`` to ``shape(warmup_iter/max_iter)``
('linear'), or stays at ``warmup_factor * shape(0)`` ('constant'); from ``warmup_iter``
on it is the shape's own value on the run's timeline (warmup does not delay the shape).
"""
import logging
from typing import Callable, Optional

import torch
from fvcore.common.param_scheduler import CompositeParamScheduler, LinearParamScheduler

from engine.utils.errors import ConfigError
from engine.utils.registry import cfg_to_kwargs, lookup

from .build import LR_SCHEDULER_REGISTRY, fit_kwargs
from .lr_shapes import Constant, exact

__all__ = ["LRMultiplier", "WarmupPolynomialDecay", "with_warmup", "build_lr_scheduler"]

logger = logging.getLogger(__name__)

MULTIPLIER_TYPES = ("LRMultiplierScheduler", "LRMultiplier")
POLY_TYPE = "WarmupPolynomialDecay"  # the seed's own scheduler type, beside the multiplier
WARMUP_METHODS = ("linear", "constant")
# Torch schedulers a config cannot drive: they take callables, other schedulers, or a
# metric the per-iteration step does not pass.
UNSUPPORTED_TORCH = ("LambdaLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler",
                     "ReduceLROnPlateau", "LRScheduler", "_LRScheduler")
# Torch schedulers that set absolute LRs (not multiples of each group's initial LR).
ABSOLUTE_LR_TORCH = ("CyclicLR", "OneCycleLR")


class LRMultiplier(torch.optim.lr_scheduler.LRScheduler):
    """``lr_i = base_lr_i * multiplier(min(iter, max_iter) / max_iter)``.

    Past ``max_iter`` the value stays at ``multiplier(1.0)``. ``state_dict`` holds only
    ``base_lrs`` and ``last_epoch``; ``load_state_dict`` also writes the restored LR into
    the optimizer, so it does not matter whether the optimizer's own state is loaded
    before or after this one.
    """

    def __init__(self, optimizer, multiplier: Callable[[float], float], max_iter: int,
                 last_iter: int = -1):
        if not callable(multiplier):
            raise TypeError(f"multiplier must map progress in [0, 1] to a factor, got {multiplier!r}")
        if not (isinstance(max_iter, int) and max_iter > 0):
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def factor_at(self, iteration: int) -> float:
        where = min(max(iteration, 0), self._max_iter) / self._max_iter
        return float(self._multiplier(where))

    def get_lr(self):
        factor = self.factor_at(self.last_epoch)
        return [base * factor for base in self.base_lrs]

    def state_dict(self):
        return {"base_lrs": list(self.base_lrs), "last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict):
        self.base_lrs = list(state_dict["base_lrs"])
        self.last_epoch = int(state_dict["last_epoch"])
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class WarmupPolynomialDecay(torch.optim.lr_scheduler.LRScheduler):
    """The seed's ``type='WarmupPolynomialDecay'`` (its parameters and formula).

    With ``w = warmup_iter``, ``T = max_iter``, ``i`` the iteration (held at ``T`` past
    the end) and the warmup factor ``f = warmup_factor * (1 - i/w) + i/w`` ('linear') or
    ``warmup_factor`` ('constant') for ``i < w``::

        i < w:                 lr = base * f * (1 - i/T) ** power
        i >= w, simple=True:   lr = base * (1 - (i-w)/(T-w)) ** 0.9     (the seed fixes 0.9)
        i >= w, simple=False:  lr = (base - end_lr) * (1 - (i-w)/(T-w)) ** power + end_lr

    ``end_lr`` is an absolute LR (the same for every param group). Stateless like
    :class:`LRMultiplier`: ``state_dict`` is ``base_lrs`` and ``last_epoch``.
    """

    state_dict = LRMultiplier.state_dict
    load_state_dict = LRMultiplier.load_state_dict

    def __init__(self, optimizer, max_iter: int, end_lr: float = 0.0001, power: float = 1.0,
                 warmup_factor: float = 0.001, warmup_iter: int = 1000,
                 warmup_method: str = "linear", simple: bool = True, last_epoch: int = -1):
        if not (isinstance(max_iter, int) and not isinstance(max_iter, bool) and max_iter > 0):
            raise ConfigError(f"max_iter must be a positive integer, got {max_iter!r}")
        if not (isinstance(warmup_iter, int) and not isinstance(warmup_iter, bool) and 0 <= warmup_iter):
            raise ConfigError(f"warmup_iter must be a non-negative integer, got {warmup_iter!r}")
        if warmup_iter > max_iter:
            raise ConfigError(f"warmup_iter={warmup_iter} is longer than max_iter={max_iter} (the "
                              f"seed's default warmup_iter is 1000: set it for a shorter run)")
        if not (isinstance(power, (int, float)) and power > 0):
            raise ConfigError(f"power must be > 0 so that the LR decays, got {power!r}")
        if warmup_method not in WARMUP_METHODS:
            raise ConfigError(f"warmup_method must be one of {list(WARMUP_METHODS)}, got {warmup_method!r}")
        self.max_iter, self.end_lr, self.power = max_iter, float(end_lr), float(power)
        self.warmup_factor, self.warmup_iter = float(warmup_factor), warmup_iter
        self.warmup_method, self.simple = warmup_method, bool(simple)
        super().__init__(optimizer, last_epoch=last_epoch)

    def _factor(self, i: int) -> float:
        if i >= self.warmup_iter:
            return 1.0
        if self.warmup_method == "constant":
            return self.warmup_factor
        alpha = i / self.warmup_iter
        return self.warmup_factor * (1 - alpha) + alpha

    def lr_at(self, base_lr: float, iteration: int) -> float:
        i = min(max(iteration, 0), self.max_iter)
        factor, w, total = self._factor(i), self.warmup_iter, self.max_iter
        if factor < 1:
            return base_lr * factor * (1.0 - i / total) ** self.power
        rest = 1.0 - ((i - w) / (total - w) if total > w else 1.0)
        if self.simple:
            return base_lr * rest ** 0.9
        return (base_lr - self.end_lr) * rest ** self.power + self.end_lr

    def get_lr(self):
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]


def with_warmup(shape: Callable[[float], float], max_iter: int, warmup_iter: int,
                     warmup_factor: float = 0.001, warmup_method: str = "linear"):
    """``shape`` with its first ``warmup_iter`` iterations replaced by a warmup ramp."""
    if warmup_iter == 0:
        return shape
    length = warmup_iter / max_iter
    start = warmup_factor * shape(0.0)
    if warmup_method == "linear":
        ramp = LinearParamScheduler(start, shape(length))
    elif warmup_method == "constant":
        ramp = Constant(start)
    else:
        raise ConfigError(f"warmup_method must be one of {list(WARMUP_METHODS)}, got {warmup_method!r}")
    return exact(
        CompositeParamScheduler([ramp, shape], [length, 1.0 - length], ["rescaled", "fixed"]),
        max_iter,
    )


def build_lr_scheduler(optimizer: torch.optim.Optimizer, node, max_iter: int,
                       where: str = "solver.generator.lr_scheduler"
                       ) -> Optional[torch.optim.lr_scheduler.LRScheduler]:
    """The scheduler a ``lr_scheduler`` config node asks for, or None when disabled.

    ``type`` is ``LRMultiplierScheduler`` (a registered shape plus warmup) or the name of
    a ``torch.optim.lr_scheduler`` class whose kwargs are ``params``. Either way it is
    stepped once per optimizer step. ``max_iter`` is ``solver.max_iter``.
    """
    if node is None:
        return None
    kwargs = cfg_to_kwargs(node)
    unknown = sorted(set(kwargs) - {"enabled", "type", "params"})
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: ['enabled', 'params', 'type']")
    if not kwargs.get("enabled", True):
        return None
    kind = kwargs.get("type")
    params = kwargs.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}.params: expected a dict, got {params!r}")
    if not kind:
        raise ConfigError(f"{where}.type is not set: use {MULTIPLIER_TYPES[0]!r} or a "
                          f"torch.optim.lr_scheduler class name (or enabled=False)")
    if kind in MULTIPLIER_TYPES:
        multiplier, total = _build_multiplier(params, max_iter, f"{where}.params")
        return LRMultiplier(optimizer, multiplier, total)
    if kind == POLY_TYPE:
        params = dict(params)
        params.setdefault("max_iter", max_iter)
        kwargs = fit_kwargs(WarmupPolynomialDecay, params, f"{where}.params ({kind})",
                            skip=("optimizer", "last_epoch"))
        try:
            return WarmupPolynomialDecay(optimizer, **kwargs)
        except ConfigError as e:
            raise ConfigError(f"{where}.params ({kind}): {e}") from None
    return _build_torch_scheduler(optimizer, kind, params, max_iter, where)


def _build_multiplier(params: dict, max_iter: int, where: str):
    valid = ["lr_scheduler_param", "max_iter", "warmup_factor", "warmup_iter", "warmup_method"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {valid}")
    total = params.get("max_iter", max_iter)
    if not (isinstance(total, int) and not isinstance(total, bool) and total > 0):
        raise ConfigError(f"{where}.max_iter must be a positive integer, got {total!r}")
    if total != max_iter:
        logger.warning("%s.max_iter=%d differs from solver.max_iter=%d; the schedule spans %d "
                       "iterations", where, total, max_iter, total)
    warmup_iter = params.get("warmup_iter", 0)
    if not (isinstance(warmup_iter, int) and not isinstance(warmup_iter, bool) and warmup_iter >= 0):
        raise ConfigError(f"{where}.warmup_iter must be a non-negative integer, got {warmup_iter!r}")
    if warmup_iter > total:
        raise ConfigError(f"{where}.warmup_iter={warmup_iter} is longer than max_iter={total}")
    factor = params.get("warmup_factor", 0.001)
    if not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor >= 0):
        raise ConfigError(f"{where}.warmup_factor must be a number >= 0, got {factor!r}")
    method = params.get("warmup_method", "linear")
    if method not in WARMUP_METHODS:
        raise ConfigError(f"{where}.warmup_method must be one of {list(WARMUP_METHODS)}, "
                          f"got {method!r}")

    shape_where = f"{where}.lr_scheduler_param"
    shape_cfg = dict(params.get("lr_scheduler_param") or {})
    name = shape_cfg.pop("name", None)
    shape_fn = lookup(LR_SCHEDULER_REGISTRY, name, f"{shape_where}.name")
    misplaced = sorted(k for k in shape_cfg if k.startswith("warmup_") or k == "max_iter")
    if misplaced:
        raise ConfigError(f"{shape_where}: {misplaced} belong one level up, in {where} "
                          f"beside lr_scheduler_param")
    shape_kwargs = fit_kwargs(shape_fn, shape_cfg, f"{shape_where} ({name})", skip=("max_iter",))
    try:
        shape = shape_fn(total, **shape_kwargs)
    except (ConfigError, ValueError, TypeError) as e:
        raise ConfigError(f"{shape_where} ({name}): {e}") from None
    return with_warmup(shape, total, warmup_iter, float(factor), method), total


def _build_torch_scheduler(optimizer, kind, params: dict, max_iter: int, where: str):
    lrs = torch.optim.lr_scheduler
    supported = sorted(
        n for n in dir(lrs)
        if isinstance(getattr(lrs, n), type) and issubclass(getattr(lrs, n), lrs.LRScheduler)
        and n not in UNSUPPORTED_TORCH
    )
    if kind not in supported:
        hint = " (it needs callables, other schedulers or a metric)" if kind in UNSUPPORTED_TORCH else ""
        raise ConfigError(
            f"{where}.type: {kind!r} is not a known LR scheduler{hint}. Use {POLY_TYPE!r}, "
            f"{MULTIPLIER_TYPES[0]!r} with params.lr_scheduler_param.name one of "
            f"{LR_SCHEDULER_REGISTRY.registered_names()}, or a torch.optim.lr_scheduler "
            f"class: {supported}"
        )
    if kind in ABSOLUTE_LR_TORCH and any(g.get("lr_mult", 1.0) != 1.0 for g in optimizer.param_groups):
        raise ConfigError(
            f"{where}.type: {kind} sets the same LR for every group, which would drop the "
            f"optimizer's param_groups lr_mult; use type {MULTIPLIER_TYPES[0]!r} (its 'OneCycleLR' "
            f"shape keeps multipliers) or remove the lr_mult rules")
    cls = getattr(lrs, kind)
    params = dict(params)
    # Stepped per iteration, so lengths measured in steps default to the whole run.
    if kind == "CosineAnnealingLR":
        params.setdefault("t_max", max_iter)
    if kind == "OneCycleLR" and "epochs" not in params:
        params.setdefault("total_steps", max_iter)
    kwargs = fit_kwargs(cls, params, f"{where}.params ({kind})", skip=("optimizer",))
    try:
        return cls(optimizer, **kwargs)
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"{where}.params: {kind} refused {kwargs}: {e}") from None
