"""Config: Python/YAML files + command-line overrides into a checked yacs CfgNode."""
from .defaults import get_default_cfg
from .loader import apply_overrides, dump_cfg, load_cfg, read_config_file
from .node import CfgNode

__all__ = ["CfgNode", "get_default_cfg", "load_cfg", "read_config_file", "apply_overrides", "dump_cfg"]
