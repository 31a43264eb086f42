"""The loss registry and the one function that turns a config entry into a loss module.

Every loss in ``torch.nn`` is registered under its class name, so a config can say
``name='CrossEntropyLoss'`` without any code (for the eleven the seed wrapped, the
subclass of :mod:`engine.loss.nn_losses` that also reads its target shapes); losses torch
lacks are written in this folder and users add theirs with ``@LOSS_ARCH_REGISTRY.register()``.

Config files can not hold tensors, yet torch losses take class weights as tensors
(``CrossEntropyLoss(weight=...)``, ``BCEWithLogitsLoss(pos_weight=...)``). A list or
number given for a constructor parameter annotated as a ``Tensor`` is therefore turned
into a float tensor here, so ``param=dict(weight=[1.0, 3.0])`` works as written.
"""
import difflib
import inspect
from typing import Any, Dict, Mapping, Union

import torch
from torch import nn

from ..utils.errors import ConfigError
from ..utils.registry import Registry, build_from_cfg, cfg_to_kwargs
from .nn_losses import WRAPPED

__all__ = ["LOSS_ARCH_REGISTRY", "build_loss", "LAMBDA_WEIGHT"]

#: Loss classes by name: every torch.nn loss, this folder's, and the user's own.
LOSS_ARCH_REGISTRY = Registry("LOSS_ARCH")

#: The key inside an entry's ``param`` that weights the loss instead of reaching its constructor.
LAMBDA_WEIGHT = "lambda_weight"

_DEPRECATED = {"NLLLoss2d"}  # an alias torch keeps only for old code
for _name in torch.nn.modules.loss.__all__:
    if _name not in _DEPRECATED and hasattr(nn, _name):
        LOSS_ARCH_REGISTRY.register(WRAPPED.get(_name, getattr(nn, _name)))


def build_loss(node: Union[Mapping, str], where: str = "trainer.model.loss", **kwargs: Any) -> nn.Module:
    """Build the loss an entry ``{name, param}`` names, with ``param`` as constructor kwargs.

    ``param.lambda_weight`` and ``input_name`` are how :mod:`engine.loss.pipe` weights and
    feeds the loss, not constructor arguments, so they are left out here. ``where`` is
    the entry's config path, used in every error message.

    The seed's spelling ``build_loss(name, **kwargs)`` is a constructor call with no entry
    around it to apply a weight, so there ``lambda_weight`` reaches the constructor.
    """
    if isinstance(node, str):
        return _construct(node, dict(kwargs), where)
    if not isinstance(node, Mapping):
        raise ConfigError(
            f"{where}: expected a loss entry dict(name=..., param=dict(...)), "
            f"got {type(node).__name__} {node!r}"
        )
    entry = {str(k).lower(): v for k, v in node.items()}
    name = entry.get("name")
    param = entry.get("param") or {}
    if not isinstance(param, Mapping):
        raise ConfigError(
            f"{where}.param: expected a dict of constructor parameters, "
            f"got {type(param).__name__} {param!r}"
        )
    kwargs = cfg_to_kwargs(param)
    kwargs.pop(LAMBDA_WEIGHT, None)
    return _construct(name, kwargs, where)


def _construct(name: Any, kwargs: Dict[str, Any], where: str) -> nn.Module:
    cls = LOSS_ARCH_REGISTRY.get(name) if isinstance(name, str) and name in LOSS_ARCH_REGISTRY else None
    if cls is not None:
        _check_param_names(cls, name, kwargs, f"{where}.param")
        kwargs = _lists_to_tensors(cls, kwargs)
    return build_from_cfg(LOSS_ARCH_REGISTRY, {"name": name}, where, **kwargs)


def _check_param_names(cls: Any, name: str, kwargs: Dict[str, Any], where: str) -> None:
    """Name every parameter the constructor does not take (``bind`` names only the first)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, accepted, n=1)
            if close:
                hints.append(f"'{k}' -> '{close[0]}'?")
        hint = f" Did you mean: {', '.join(hints)}" if hints else ""
        raise ConfigError(
            f"{where}: {name} does not take {', '.join(repr(k) for k in unknown)}.{hint} "
            f"It takes: {', '.join(accepted) or 'no parameters'}, plus "
            f"'{LAMBDA_WEIGHT}' (the loss's weight in the sum)."
        )


def _lists_to_tensors(cls: Any, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return kwargs
    out = dict(kwargs)
    for key, value in kwargs.items():
        p = params.get(key)
        wants_tensor = p is not None and "Tensor" in str(p.annotation)
        if wants_tensor and isinstance(value, (list, tuple, int, float)) and not isinstance(value, bool):
            out[key] = torch.as_tensor(value, dtype=torch.float32)
    return out
