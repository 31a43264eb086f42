"""The solver's name tables, and how a config's ``params`` become constructor kwargs.

Two registries, both open to users (``@OPTIMIZER_REGISTRY.register()``):

* ``OPTIMIZER_REGISTRY``: every ``torch.optim`` optimizer, by class name. LBFGS is left
  out: its ``step`` needs a closure the training loop never passes.
* ``LR_SCHEDULER_REGISTRY``: LR *multiplier shapes* (the built-in ones: :mod:`.lr_shapes`;
  how they are used: :mod:`.lr_scheduler`), named by ``lr_scheduler_param.name``. A shape
  is ``f(max_iter, **params) -> ParamScheduler``, where the returned fvcore
  ``ParamScheduler`` maps progress ``where`` in [0, 1] to a factor applied to each base
  LR. Warmup is added around any shape by the builder, so shapes never implement it
  themselves.

Config keys arrive lower-cased (yacs stores them upper-case) while some torch
parameters are not (``CosineAnnealingLR(T_max=...)``), so :func:`fit_kwargs` matches
names case-insensitively against the constructor's signature.
"""
import difflib
import inspect
from typing import Any, Dict, Iterable

import torch

from engine.utils.errors import ConfigError
from engine.utils.registry import Registry

__all__ = ["OPTIMIZER_REGISTRY", "LR_SCHEDULER_REGISTRY", "fit_kwargs"]

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
