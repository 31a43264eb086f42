"""Build a torch optimizer from an ``optimizer`` config node.

The node names a registered optimizer (``type``) and its keyword arguments
(``params``); ``clip_gradients`` belongs to the same node but is read by
:class:`~engine.solver.clip.GradientClipper`, because clipping acts on gradients before
``step`` and must not change the optimizer's class.
"""
from typing import Iterable, Union

import torch

from engine.utils.errors import ConfigError
from engine.utils.registry import cfg_to_kwargs, lookup

from .build import OPTIMIZER_REGISTRY, fit_kwargs

__all__ = ["build_optimizer"]

NODE_KEYS = ("type", "params", "clip_gradients")


def build_optimizer(params: Union[torch.nn.Module, Iterable], node,
                    where: str = "solver.generator.optimizer") -> torch.optim.Optimizer:
    """``OPTIMIZER_REGISTRY[node.type](params, **node.params)``.

    ``params`` is what torch optimizers take (tensors, or param-group dicts whose own
    keys override ``node.params`` for that group) or an ``nn.Module``, whose parameters
    with ``requires_grad`` are used, so frozen layers are left alone.
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

    if isinstance(params, torch.nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    else:
        params = list(params)
    if not params:
        raise ConfigError(f"{where}: the network has no trainable parameters to optimize")
    try:
        return cls(params, **opt_kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}.params: {name} refused {opt_kwargs}: {e}") from None

