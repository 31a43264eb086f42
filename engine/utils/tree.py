"""Nested config values (dicts, CfgNodes, lists) rewritten with their keys in one case."""
from typing import Any, Callable, Mapping

__all__ = ["map_keys", "lower_keys", "upper_keys"]


def map_keys(value: Any, key_fn: Callable[[str], str]) -> Any:
    """Plain dicts/lists with ``key_fn`` applied to every mapping key, at every depth
    (dicts inside lists too). Tuples stay tuples."""
    if isinstance(value, Mapping):
        return {key_fn(str(k)): map_keys(v, key_fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_keys(v, key_fn) for v in value)
    return value


def lower_keys(value: Any) -> Any:
    return map_keys(value, str.lower)


def upper_keys(value: Any) -> Any:
    return map_keys(value, str.upper)
