"""Build a torch optimizer from an ``optimizer`` config node.

The node names a registered optimizer (``type``) and its keyword arguments
(``params``); ``param_groups``, ``weight_decay_norm`` and ``weight_decay_bias`` split the
network's parameters into groups (:mod:`.param_groups`); ``clip_gradients`` belongs to
the same node but is read by :class:`~engine.solver.clip.GradientClipper`, because
clipping acts on gradients before ``step`` and must not change the optimizer's class.
"""
import inspect
import logging
from typing import Iterable, Union

import torch

from engine.utils.errors import ConfigError
from engine.utils.registry import cfg_to_kwargs, lookup

from .build import OPTIMIZER_REGISTRY, fit_kwargs
from .param_groups import GROUP_KEYS, build_param_groups, format_param_groups

__all__ = ["build_optimizer"]

logger = logging.getLogger(__name__)

NODE_KEYS = ("type", "params", "clip_gradients") + GROUP_KEYS


def build_optimizer(params: Union[torch.nn.Module, Iterable], node,
                    where: str = "solver.generator.optimizer") -> torch.optim.Optimizer:
    """``OPTIMIZER_REGISTRY[node.type](params, **node.params)``.

    ``params`` is what torch optimizers take (tensors, or param-group dicts whose own
    keys override ``node.params`` for that group) or an ``nn.Module``, whose parameters
    with ``requires_grad`` are used, so frozen layers are left alone. With an
    ``nn.Module`` the node's ``param_groups`` / ``weight_decay_norm`` /
    ``weight_decay_bias`` split them into groups; the groups are logged as a table.
    """
    if node is None or not hasattr(node, "items"):
        raise ConfigError(f"{where}: expected a dict with 'type' and 'params', got {node!r}")
    kwargs = cfg_to_kwargs(node)
    unknown = sorted(set(kwargs) - set(NODE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {list(NODE_KEYS)}")
    name = kwargs.get("type")
    cls = lookup(OPTIMIZER_REGISTRY, name, f"{where}.type")

    opt_kwargs = kwargs.get("params") or {}
    if not isinstance(opt_kwargs, dict):
        raise ConfigError(f"{where}.params: expected a dict of {name} arguments, got {opt_kwargs!r}")
    # YAML has no tuples; torch accepts lists for betas & co. but documents tuples.
    opt_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in opt_kwargs.items()}
    opt_kwargs = fit_kwargs(cls, opt_kwargs, f"{where}.params ({name})", skip=("params",))

    grouping = bool(kwargs.get("param_groups")) or any(
        kwargs.get(k) is not None for k in GROUP_KEYS[1:])
    if isinstance(params, torch.nn.Module) and grouping:
        defaults = _defaults(cls)
        lr = opt_kwargs.get("lr", defaults.get("lr"))
        if not isinstance(lr, (int, float)) or isinstance(lr, bool):
            raise ConfigError(f"{where}.params.lr must be set to a number to use param_groups, got {lr!r}")
        weight_decay = opt_kwargs.get("weight_decay", defaults.get("weight_decay"))
        params = build_param_groups(params, float(lr), weight_decay, kwargs, where)
    elif grouping:
        raise ConfigError(f"{where}: param_groups / weight_decay_norm / weight_decay_bias need "
                          f"the network (an nn.Module), not a list of parameters")
    elif isinstance(params, torch.nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    else:
        params = list(params)
    if not params:
        raise ConfigError(f"{where}: the network has no trainable parameters to optimize")
    try:
        optimizer = cls(params, **opt_kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}.params: {name} refused {opt_kwargs}: {e}") from None
    logger.info(format_param_groups(
        optimizer, f"{where}: {name}, {len(optimizer.param_groups)} parameter group(s)"))
    return optimizer


def _defaults(cls) -> dict:
    """The optimizer's keyword defaults (``lr``, ``weight_decay``), from its signature."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in sig.parameters.values() if p.default is not p.empty}

