"""Config inheritance: ``_base_ = 'base.py'`` (or a list of files), as the seed writes it.

A file names one or more base files, relative to its own folder, of the same format
(``.py`` bases for a ``.py`` file, ``.yaml``/``.yml`` for a YAML file); bases may have
bases. The file's settings are merged over its bases' (later bases over earlier ones):

* dicts merge key by key, the child's value wins; lists and values are replaced whole;
* an ``optimizer`` or ``lr_scheduler`` section whose ``type`` differs from the base's
  replaces the base's section whole (the base's ``params`` belong to another class).

A missing base, a cycle, or a base of another format is a ``ConfigError`` naming the
chain of files that led to it. Keys are compared case-insensitively (``Solver`` in a
base and ``solver`` in the child are one section; within one file, see node.py).
"""
import os
from typing import Any, Dict, List, Sequence

from ..utils.errors import ConfigError
from ..compat.seed.config_aliases import translate_aliases
from .files import BASE_KEY, config_format, read_one_file
from .node import to_upper_tree

__all__ = ["read_with_bases", "merge_over_base", "REPLACED_BY_TYPE"]

REPLACED_BY_TYPE = ("OPTIMIZER", "LR_SCHEDULER")


def read_with_bases(path: str, _chain: Sequence[str] = ()) -> Dict[str, Any]:
    """The file's settings merged over its bases', keys upper-cased."""
    chain = list(_chain) + [path]
    real = os.path.realpath(path)
    if real in [os.path.realpath(p) for p in _chain]:
        raise ConfigError(f"config files inherit from each other in a cycle: {_arrow(chain)}")
    try:
        tree, base = read_one_file(path)
    except ConfigError as e:
        if not _chain:
            raise
        raise ConfigError(f"{e} (read as a base: {_arrow(chain)})") from None
    tree = translate_aliases(to_upper_tree(tree, f"config file {path!r}"), path)
    if base is None:
        return tree
    merged: Dict[str, Any] = {}
    for base_path in _base_paths(path, base, chain):
        merged = merge_over_base(merged, read_with_bases(base_path, chain))
    return merge_over_base(merged, tree)


def _base_paths(path: str, base: Any, chain: List[str]) -> List[str]:
    names = [base] if isinstance(base, str) else base
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"config file {path!r}: {BASE_KEY} must be a file name or a list of "
                          f"file names, got {base!r}")
    folder = os.path.dirname(os.path.abspath(path))
    out = []
    for name in names:
        full = os.path.normpath(os.path.join(folder, os.path.expanduser(name)))
        if not os.path.isfile(full):
            raise ConfigError(f"base config not found: {name!r} (looked for {full!r}), named by "
                              f"{BASE_KEY} in {_arrow(chain)}")
        if config_format(full) != config_format(path):
            raise ConfigError(f"base config {name!r} is a {config_format(full)} file but {path!r} is "
                              f"a {config_format(path)} file; a base must have its child's format "
                              f"({_arrow(chain + [full])})")
        out.append(full)
    return out


def merge_over_base(base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
    """``child`` over ``base`` (both upper-case trees); neither input is modified."""
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and not _type_changed(key, old, value):
            out[key] = merge_over_base(old, value)
        else:
            out[key] = value
    return out


def _type_changed(key: str, old: dict, new: dict) -> bool:
    return key in REPLACED_BY_TYPE and "TYPE" in new and new.get("TYPE") != old.get("TYPE")


def _arrow(chain: Sequence[str]) -> str:
    return " -> ".join(repr(p) for p in chain)
