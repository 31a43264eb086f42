"""Config: Python/YAML files + command-line overrides into a checked yacs CfgNode."""
from .defaults import get_default_cfg, get_defaults
from .loader import apply_overrides, dump_cfg, load_cfg, read_config_file
from .node import CfgNode

__all__ = ["CfgNode", "get_default_cfg", "get_cfg", "get_defaults", "load_cfg", "read_config_file",
           "apply_overrides", "dump_cfg"]


def get_cfg() -> CfgNode:
    """The seed's name for a fresh, mutable copy of the defaults (its defaults node
    cloned): here :func:`get_default_cfg`, so a seed project fills our keys."""
    return get_default_cfg()
