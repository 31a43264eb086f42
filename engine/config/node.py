"""The config tree: a yacs CfgNode that also answers lower-case attribute names.

Config files are written lower-case (``trainer = dict(model=...)``) and user code reads
them upper-case as the seed does (``cfg.TRAINER.MODEL``). Keys are stored upper-case;
attribute access tries the name as given, then upper-cased, so both spellings work.
Dicts inside lists (transform pipelines, loss lists) become nodes too, so they read the
same way.

Since keys are case-insensitive, one mapping may spell a key twice (``solver`` and
``SOLVER``, ``dict(max_iter=3, MAX_ITER=8)``); :func:`to_upper_tree` makes them one key
instead of keeping whichever came last: two sections are merged key by key, the same
value twice is that value, and two different values for one key are a ``ConfigError``
naming both spellings and the file.
"""
from typing import Any, Mapping, Tuple

from yacs.config import CfgNode as _CfgNode

from ..utils.errors import ConfigError

__all__ = ["CfgNode", "to_node_value", "to_upper_tree"]


class CfgNode(_CfgNode):
    def __getattr__(self, name):
        if name in self:
            return self[name]
        upper = name.upper()
        if upper in self:
            return self[upper]
        raise AttributeError(name)

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return dict.get(self, str(key).upper(), default)

    @classmethod
    def _create_config_tree_from_dict(cls, dic, key_list):
        # yacs deep-copies and converts nested dicts; we also convert dicts inside lists.
        out = {}
        for k, v in dic.items():
            out[k] = _convert(cls, v, key_list + [k])
        return out


def to_upper_tree(value: Any, source: str = "config") -> Any:
    """``value`` as plain dicts/lists with every mapping key upper-cased, at every depth
    (dicts inside lists too), keys spelled in several cases merged (see above)."""
    return _upper(value, source, ())


def _upper(value, source: str, path: Tuple[str, ...]):
    if isinstance(value, Mapping):
        out, spelled = {}, {}
        for key, item in value.items():
            name = str(key).upper()
            here = path + (str(key),)
            item = _upper(item, source, here)
            if name in out:
                out[name] = _one_key(out[name], item, spelled[name], here, source)
            else:
                out[name], spelled[name] = item, here
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_upper(v, source, path) for v in value)
    return value


def _one_key(first, second, first_path, second_path, source):
    """One key's two values (spelled ``first_path`` and ``second_path``), as one."""
    if isinstance(first, dict) and isinstance(second, dict):
        merged = dict(first)
        for key, value in second.items():
            merged[key] = (_one_key(merged[key], value, first_path + (key.lower(),), second_path + (key.lower(),),
                                    source) if key in merged else value)
        return merged
    if type(first) is type(second) and first == second:
        return first
    raise ConfigError(
        f"{source}: {'.'.join(first_path)} and {'.'.join(second_path)} are one key (keys are not "
        f"case-sensitive) given different values ({first!r} and {second!r}); keep one of them"
    )


def to_node_value(value, key_list=()):
    """``value`` with every dict in it (inside lists too) turned into a CfgNode."""
    return _convert(CfgNode, value, list(key_list))


def _convert(cls, value, key_list):
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(value, key_list=key_list)
    if isinstance(value, (list, tuple)):
        return type(value)(_convert(cls, v, key_list) for v in value)
    return value
