"""The config tree: a yacs CfgNode that also answers lower-case attribute names.

Config files are written lower-case (``trainer = dict(model=...)``) and user code reads
them upper-case as the seed does (``cfg.TRAINER.MODEL``). Keys are stored upper-case;
attribute access tries the name as given, then upper-cased, so both spellings work.
Dicts inside lists (transform pipelines, loss lists) become nodes too, so they read the
same way.
"""
from yacs.config import CfgNode as _CfgNode

from ..utils.tree import map_keys, upper_keys as to_upper_tree

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
