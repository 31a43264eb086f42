"""One term of a loss sum: the loss module, how much it counts, and which inputs it reads.

A config entry is ``dict(name=..., param=dict(lambda_weight=w, **ctor_kwargs),
input_name=[...])``. The weight and the input names are this term's business, so the
loss classes themselves stay plain ``torch.nn`` losses that know nothing of configs.
"""
import difflib
import inspect
import math
import numbers
from typing import Any, Mapping, Optional, Sequence, Tuple

from torch import Tensor, nn

from ..utils.errors import ConfigError
from .build import LAMBDA_WEIGHT, LOSS_ARCH_REGISTRY, build_loss

__all__ = ["LossTerm"]

_ENTRY_KEYS = ("name", "param", "input_name")


class LossTerm(nn.Module):
    """``lambda_weight * loss(*inputs)``, the inputs picked from a tuple or a dict.

    A tuple/list is passed positionally and ``input_name`` is not consulted (the seed's
    ``self.loss((pred, target))``); a dict is read at the ``input_name`` keys, in order.
    """

    def __init__(self, loss: nn.Module, lambda_weight: float = 1.0,
                 input_name: Optional[Sequence[str]] = None, where: str = "loss"):
        super().__init__()
        self.loss = loss
        self.lambda_weight = float(lambda_weight)
        self.input_name = None if input_name is None else tuple(input_name)
        self.where = where

    @classmethod
    def from_cfg(cls, node: Mapping, where: str) -> "LossTerm":
        if not isinstance(node, Mapping):
            raise ConfigError(
                f"{where}: expected a loss entry dict(name=..., param=dict(...), "
                f"input_name=[...]), got {type(node).__name__} {node!r}"
            )
        entry = {str(k).lower(): v for k, v in node.items()}
        unknown = [k for k in entry if k not in _ENTRY_KEYS]
        if unknown and "param" not in entry and not _misspelt(unknown):
            entry = _flat_to_param(entry, unknown)
            node, unknown = entry, []
        if unknown:
            hints = [f"'{k}' -> '{c[0]}'?" for k in unknown
                     for c in [difflib.get_close_matches(k, _ENTRY_KEYS, n=1)] if c]
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)} in a loss "
                f"entry{' (' + ', '.join(hints) + ')' if hints else ''}. A loss entry has "
                f"{', '.join(_ENTRY_KEYS)}; constructor parameters and {LAMBDA_WEIGHT} go "
                f"inside param."
            )
        param = entry.get("param") or {}
        if not isinstance(param, Mapping):
            raise ConfigError(
                f"{where}.param: expected a dict such as dict({LAMBDA_WEIGHT}=1.0), "
                f"got {type(param).__name__} {param!r}"
            )
        weight = _lambda_weight(param, f"{where}.param.{LAMBDA_WEIGHT}")
        input_name = _input_name(entry.get("input_name"), f"{where}.input_name")
        return cls(build_loss(node, where), weight, input_name, where)

    def forward(self, inputs: Any, by_order: bool = False) -> Tensor:
        loss = self.loss(*self.select(inputs, by_order))
        return loss if self.lambda_weight == 1.0 else loss * self.lambda_weight

    def select(self, inputs: Any, by_order: bool = False) -> Tuple[Any, ...]:
        """The positional arguments this term's loss gets from ``inputs``.

        ``by_order``: a dict given to an entry without ``input_name`` passes its values in
        the dict's order (the seed's list form, where each dict is built for its loss)
        instead of being an error."""
        if isinstance(inputs, (tuple, list)):
            return tuple(inputs)
        if isinstance(inputs, Mapping):
            available = sorted(map(str, inputs.keys()))
            if self.input_name is None and by_order:
                return tuple(inputs.values())
            if self.input_name is None:
                raise ConfigError(
                    f"{self.where}: the loss inputs are a dict (keys {available}) but this "
                    f"entry has no input_name to pick from it. Add input_name=[...] (the "
                    f"keys to pass, in the loss's argument order), or pass a tuple."
                )
            missing = [n for n in self.input_name if n not in inputs]
            if missing:
                raise ConfigError(
                    f"{self.where}.input_name: {missing} not among the loss inputs given; "
                    f"available: {available}. Fix input_name in the config or the keys "
                    f"of the dict passed to the loss."
                )
            return tuple(inputs[n] for n in self.input_name)
        raise TypeError(
            f"{self.where}: loss inputs must be a tuple/list (passed positionally to every "
            f"loss) or a dict (read at each entry's input_name), got {type(inputs).__name__}"
        )

    def extra_repr(self) -> str:
        return f"lambda_weight={self.lambda_weight}, input_name={self.input_name}"


def _misspelt(keys: Sequence[str]) -> bool:
    return any(difflib.get_close_matches(k, _ENTRY_KEYS, n=1) for k in keys)


def _flat_to_param(entry: Mapping, flat: Sequence[str]) -> dict:
    """The seed's ``LossCompose`` entry ``dict(name=..., **ctor_kwargs)``, its other keys
    the constructor's parameters, as ``dict(name=..., param=dict(...))``. Its loss.md
    writes the weight as ``weights=1.0``: taken as ``lambda_weight`` unless the loss's
    constructor has a ``weights`` parameter."""
    param = {k: entry[k] for k in flat}
    if "weights" in param and "weights" not in _ctor_params(entry.get("name")):
        param.setdefault(LAMBDA_WEIGHT, param.pop("weights"))
    out = {k: v for k, v in entry.items() if k not in flat}
    out["param"] = param
    return out


def _ctor_params(name: Any) -> Tuple[str, ...]:
    if not isinstance(name, str) or name not in LOSS_ARCH_REGISTRY:
        return ()
    try:
        return tuple(inspect.signature(LOSS_ARCH_REGISTRY.get(name)).parameters)
    except (TypeError, ValueError):
        return ()


def _lambda_weight(param: Mapping, where: str) -> float:
    values = [v for k, v in param.items() if str(k).lower() == LAMBDA_WEIGHT]
    if not values:
        return 1.0
    w = values[0]
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
        raise ConfigError(f"{where}: expected a finite number, got {type(w).__name__} {w!r}")
    return float(w)


def _input_name(value: Any, where: str) -> Optional[Tuple[str, ...]]:
    if value is None or value == "":
        return None
    names = (value,) if isinstance(value, str) else value
    if (not isinstance(names, (list, tuple)) or not names
            or not all(isinstance(n, str) and n for n in names)):
        raise ConfigError(
            f"{where}: expected a non-empty list of input names (strings), "
            f"got {type(value).__name__} {value!r}"
        )
    return tuple(names)
