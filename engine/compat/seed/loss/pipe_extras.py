"""The seed's ``engine.loss.pipe`` helpers beyond the compositions: ``LossContainer``
and ``LossItem`` (the pieces its ``LossKeyCompose`` / ``LossKeyCompose2`` were built of,
which a project may use directly) and ``dict2lower``. Our compositions do not use them.

Both call a loss with the input dict as keyword arguments, as the seed does, so the
dict's keys are the loss's ``forward`` parameter names (``input_tensor``,
``target_tensor`` for the seed's ``torch.nn`` wrappers).
"""
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple, Union

from ....utils.errors import ConfigError

__all__ = ["LossContainer", "LossItem", "dict2lower"]


def dict2lower(item: Mapping) -> dict:
    """``item`` with lower-case keys (a yacs node's ``PARAM`` as constructor kwargs)."""
    return {str(k).lower(): v for k, v in item.items()}


def _names(params: Union[None, str, Sequence[str]]) -> List[str]:
    if params is None or params == "":
        return []
    return [params] if isinstance(params, str) else list(params)


def _check_keys(owner: Any, inputs: Mapping, names: List[str]) -> None:
    """The seed asserted this (``dict.keys() == list``, which is never true in LossItem);
    here the same keys in any order pass, and a mismatch says what differs."""
    if set(inputs.keys()) != set(names):
        raise ConfigError(f"{type(owner).__name__}: the loss inputs {sorted(map(str, inputs))} "
                          f"must be exactly the loss's input names {names}")


class LossContainer:
    """Losses summed over one input: a dict goes to each loss as keyword arguments (its
    keys must be the names given to :meth:`add`), a tuple/list positionally (to losses
    added without names)."""

    def __init__(self):
        self.funcs: List[Tuple[Callable, List[str]]] = []

    def add(self, func: Callable, params: Union[None, str, Sequence[str]]) -> None:
        self.funcs.append((func, _names(params)))

    def __call__(self, loss_input: Union[Dict, Tuple, List]):
        if not isinstance(loss_input, (Mapping, tuple, list)):
            raise NotImplementedError(f"LossContainer: the loss input must be a dict, tuple or "
                                      f"list, got {type(loss_input).__name__}")
        score = None
        for func, names in self.funcs:
            if isinstance(loss_input, Mapping):
                _check_keys(self, loss_input, names)
                value = func(**loss_input)
            else:
                if names:
                    raise ConfigError(f"LossContainer: a tuple/list input is passed by position, "
                                      f"but this loss was added with input names {names}")
                value = func(*loss_input)
            score = value if score is None else score + value
        return score

    def __repr__(self) -> str:
        return ", ".join(f"{i}: {func}" for i, (func, _) in enumerate(self.funcs))


class LossItem:
    """One loss and the names of its inputs; called with a dict of exactly those names."""

    def __init__(self, func: Callable, params: Union[None, str, Sequence[str]]):
        self.func = func
        self.params = _names(params)

    def __call__(self, loss_input: Mapping):
        _check_keys(self, loss_input, self.params)
        return self.func(**loss_input)

    def __repr__(self) -> str:
        return str(self.func)
