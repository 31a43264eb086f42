"""Config files (.py or .yaml) and command-line overrides into one checked CfgNode.

Checks happen here, once, before anything is written or launched: a file that is not a
config (files.py), its ``_base_`` chain and ``_delete_`` keys (inherit.py), an unknown
engine key (with the nearest valid names), a value of the wrong type, a seed alias given
beside our key with another value (engine/compat/seed/config_aliases.py), a value out of
range (values.py). Each raises :class:`ConfigError` with one readable message.
"""
import ast
import difflib
from typing import Any, Dict, Sequence

import yaml

from ..utils.errors import ConfigError
from ..utils.tree import lower_keys
from ..compat.seed.config_aliases import drop_ignored_shape_keys, fill_seed_locations, translate_aliases
from .custom_imports import import_custom_modules
from .defaults import SWITCHES_WITH_OPTIONS, get_default_cfg
from .inherit import read_with_bases, without_delete_key
from .node import CfgNode, to_node_value, to_upper_tree
from .values import check_values

__all__ = ["load_cfg", "read_config_file", "merge_checked", "apply_overrides", "dump_cfg"]


def load_cfg(path: str, overrides: Sequence[str] = ()) -> CfgNode:
    """Defaults <- config file (and its ``_base_`` files) <- ``KEY VALUE`` overrides;
    seed aliases moved to our keys, values range-checked, frozen; then its
    ``custom_imports`` imported (custom_imports.py)."""
    cfg = get_default_cfg()
    merge_checked(cfg, _read_tree(path), source=path)
    apply_overrides(cfg, overrides)
    fill_seed_locations(cfg)
    drop_ignored_shape_keys(cfg.SOLVER)
    check_values(cfg)
    cfg.freeze()
    import_custom_modules(cfg.CUSTOM_IMPORTS, cfg.PROJECT_ROOT, path)
    return cfg


def read_config_file(path: str) -> Dict[str, Any]:
    """The file's settings as plain dicts (keys lower-case), its bases merged in."""
    return lower_keys(_read_tree(path))


def _read_tree(path: str) -> Dict[str, Any]:
    if not path:
        raise ConfigError("no config file given: pass --config-file FILE (.py or .yaml)")
    tree = read_with_bases(path)
    if not tree:
        raise ConfigError(f"config file {path!r} defines no settings")
    return tree


def merge_checked(cfg: CfgNode, tree: Dict[str, Any], source: str, prefix: str = "") -> None:
    """Merge ``tree`` (upper-case keys) into ``cfg`` checking keys and types."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if key not in cfg:
            if not cfg.is_new_allowed():
                raise ConfigError(_unknown_key_message(cfg, key, path, source))
            cfg[key] = _as_node(value, path, new_allowed=True)
            continue
        current = cfg[key]
        if path in SWITCHES_WITH_OPTIONS:
            cfg[key] = _switch_with_options(value, path, source)
        elif isinstance(current, CfgNode):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: {path.lower()} must be a section (a dict), got {value!r}"
                )
            merge_checked(current, value, source, prefix=path + ".")
        else:
            cfg[key] = _checked_value(current, value, path, source, free=cfg.is_new_allowed())


def _switch_with_options(value, path: str, source: str):
    """False, True or a dict of the options SWITCHES_WITH_OPTIONS lists for ``path`` (a
    dict means on); the value replaces the previous one whole (a dict is not merged)."""
    options = SWITCHES_WITH_OPTIONS[path]
    forms = f"False, True or dict({', '.join(f'{k.lower()}=...' for k in options)})"
    if isinstance(value, bool):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {path.lower()} takes {forms}, got {type(value).__name__} {value!r}")
    for key, item in value.items():
        if key not in options:
            raise ConfigError(f"{source}: {path.lower()} has no option {key.lower()!r}; it takes {forms}")
        if not isinstance(item, options[key]):
            kinds = " or ".join("None" if t is type(None) else t.__name__ for t in options[key])
            raise ConfigError(f"{source}: {path.lower()}.{key.lower()} expects {kinds}, "
                              f"got {type(item).__name__} {item!r}")
    return _as_node(value, path, new_allowed=True)


def _as_node(value, path, new_allowed):
    """A config value as stored in the tree: dicts (also inside lists) become nodes."""
    if isinstance(value, dict):
        return CfgNode(value, key_list=path.split("."), new_allowed=new_allowed)
    return to_node_value(value, path.split("."))


def _checked_value(default, value, path, source, free):
    if free or default is None or value is None and isinstance(default, str):
        return _as_node(value, path, new_allowed=True)
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float) and isinstance(value, int):
        return float(value)
    elif isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return _as_node(list(value), path, new_allowed=True)
    else:
        ok = type(default) is type(value)
    if not ok:
        raise ConfigError(
            f"{source}: {path.lower()} expects {_a(type(default).__name__)} "
            f"(as its current value {default!r}), got {type(value).__name__} {value!r}"
        )
    return value


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _unknown_key_message(cfg: CfgNode, key: str, path: str, source: str) -> str:
    close = difflib.get_close_matches(key, list(cfg.keys()), n=3, cutoff=0.5)
    parent = path.rsplit(".", 1)[0].lower() + "." if "." in path else ""
    hint = (
        "did you mean " + ", ".join(f"{parent}{c.lower()}" for c in close) + "?"
        if close
        else "valid keys here: " + ", ".join(f"{parent}{k.lower()}" for k in sorted(cfg.keys()))
    )
    return f"{source}: unknown config key {path.lower()!r}; {hint}"


def apply_overrides(cfg: CfgNode, overrides: Sequence[str]) -> None:
    """``["solver.max_iter", "100", "TRAINER.DEVICE", "cpu"]``: dotted keys, any case;
    values are Python literals where they parse as one, else strings."""
    overrides = list(overrides)
    if len(overrides) % 2:
        raise ConfigError(
            f"command-line overrides come in KEY VALUE pairs; {overrides[-1]!r} has no value"
        )
    for key, raw in zip(overrides[0::2], overrides[1::2]):
        parts = key.upper().split(".")
        tree: Dict[str, Any] = {}
        leaf = tree
        for p in parts[:-1]:
            leaf = leaf.setdefault(p, {})
        source = f"command-line override {key!r}"
        leaf[parts[-1]] = to_upper_tree(_parse_literal(raw), source)
        tree = without_delete_key(tree, source, (), "an override sets the keys it names; _delete_ belongs in a "
                                                    "config file with _base_")
        merge_checked(cfg, translate_aliases(tree, source), source=source)


def _parse_literal(raw: str):
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):  # YAML spelling, as config.yaml writes booleans
        return lowered == "true"
    if lowered in ("none", "null", "~"):
        return None
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def dump_cfg(cfg: CfgNode) -> str:
    """The resolved config as YAML, loadable again with --config-file."""
    return yaml.safe_dump(_yaml_lists(lower_keys(cfg)), sort_keys=False, allow_unicode=True)


def _yaml_lists(value):
    """Tuples as lists, so safe_dump writes plain YAML sequences."""
    if isinstance(value, dict):
        return {k: _yaml_lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_lists(v) for v in value]
    return value
