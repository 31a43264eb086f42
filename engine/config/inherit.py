"""Config inheritance: ``_base_ = 'base.py'`` (or a list of files), as the seed writes it.

A file names one or more base files, relative to its own folder, of the same format
(``.py`` bases for a ``.py`` file, ``.yaml``/``.yml`` for a YAML file); bases may have
bases. The file's settings are merged over its bases' (later bases over earlier ones):

* dicts merge key by key, the child's value wins; lists and values are replaced whole;
* a section holding ``_delete_=True`` (MMEngine's key) replaces the base's section whole
  instead: the way to drop keys a base set (``_delete_=False`` merges, as without it);
* an ``optimizer`` or ``lr_scheduler`` section whose ``type`` differs from the base's
  replaces the base's section whole (the base's ``params`` belong to another class), as
  the seed does. Not silently: an info line names the section and both types. A
  ``_delete_`` in the section decides instead.

``_delete_`` is refused where it can mean nothing, so that a misplaced one is not taken
for a setting: a value other than True/False, and a ``_delete_`` with no base section to
replace (a file without ``_base_``, a section its bases do not have, inside a section
that is itself replaced, inside a list, at a YAML file's top level; loader.py refuses it
in an override). A missing base, a cycle, or a base of another format is a
``ConfigError`` naming the chain of files that led to it. Keys are compared
case-insensitively (``Solver`` in a base and ``solver`` in the child are one section;
within one file, see node.py).
"""
import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..utils.errors import ConfigError
from ..compat.seed.config_aliases import translate_aliases
from .files import BASE_KEY, config_format, read_one_file
from .node import to_upper_tree

__all__ = ["read_with_bases", "merge_over_base", "REPLACED_BY_TYPE", "DELETE_KEY"]

REPLACED_BY_TYPE = ("OPTIMIZER", "LR_SCHEDULER")
DELETE_KEY = "_DELETE_"  # as the tree holds it (keys upper-cased); written ``_delete_``
logger = logging.getLogger("engine.config")


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
        return without_delete_key(tree, f"config file {path!r}", (), f"the file has no {BASE_KEY}")
    merged: Dict[str, Any] = {}
    for base_path in _base_paths(path, base, chain):
        merged = merge_over_base(merged, read_with_bases(base_path, chain), f"config file {base_path!r}")
    return merge_over_base(merged, tree, f"config file {path!r}")


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


def merge_over_base(base: Dict[str, Any], child: Dict[str, Any], source: str = "",
                    _path: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """``child`` over ``base``, both upper-case trees; neither input is modified; no
    ``_delete_`` is left in the result. ``source`` names the child in messages
    (``config file 'c.py'``)."""
    out = dict(base)
    for key, value in child.items():
        path = _path + (key,)
        if key == DELETE_KEY:  # a section's own _delete_ is taken out below, by its parent
            raise ConfigError(f"{source}: {_dotted(path)} at the top level means nothing; put "
                              f"it inside the section whose base it replaces: solver = dict(optimizer=dict("
                              f"_delete_=True, ...))")
        old = out.get(key)
        if not isinstance(value, dict):
            out[key] = without_delete_key(value, source, path, "a list is replaced whole")
            continue
        delete = _delete_flag(value, old, source, path)
        value = {k: v for k, v in value.items() if k != DELETE_KEY}
        if not isinstance(old, dict):
            out[key] = without_delete_key(value, source, path, f"its bases have no section {_dotted(path)}")
            continue
        if delete is None and _type_changed(key, old, value):
            logger.info("%s: %s replaces its base's section whole: its type changes from %r to %r "
                        "(_delete_=False in it merges instead)", source, _dotted(path), old.get("TYPE"), value["TYPE"])
            delete = True
        if delete:
            out[key] = without_delete_key(value, source, path, f"{_dotted(path)} replaces its base's section whole")
        else:
            out[key] = merge_over_base(old, value, source, path)
    return out


def _delete_flag(section: Dict[str, Any], base_section: Any, source: str, path: Tuple[str, ...]) -> Optional[bool]:
    """The section's ``_delete_`` (None when it has none), checked."""
    if DELETE_KEY not in section:
        return None
    flag = section[DELETE_KEY]
    where = f"{source}: {_dotted(path + (DELETE_KEY,))}"
    if not isinstance(flag, bool):
        raise ConfigError(f"{where} must be True (replace the base's section whole) or False (merge into it), "
                          f"got {type(flag).__name__} {flag!r}")
    if not isinstance(base_section, dict):
        raise ConfigError(f"{where}: there is no base section to replace (its bases have no section "
                          f"{_dotted(path)}); remove _delete_")
    return flag


def without_delete_key(value: Any, source: str, path: Tuple[str, ...], why: str) -> Any:
    """``value`` where no base section exists: any ``_delete_`` in it is an error
    (``why`` says why there is no base section there)."""
    if isinstance(value, dict):
        if DELETE_KEY in value:
            raise ConfigError(f"{source}: {_dotted(path + (DELETE_KEY,))}: there is no base section "
                              f"to replace ({why}); remove _delete_")
        return {k: without_delete_key(v, source, path + (k,), why) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(without_delete_key(v, source, path, why) for v in value)
    return value


def _type_changed(key: str, old: dict, new: dict) -> bool:
    return key in REPLACED_BY_TYPE and "TYPE" in new and new.get("TYPE") != old.get("TYPE")


def _dotted(path: Sequence[str]) -> str:
    return ".".join(path).lower()


def _arrow(chain: Sequence[str]) -> str:
    return " -> ".join(repr(p) for p in chain)
