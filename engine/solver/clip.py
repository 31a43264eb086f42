"""Gradient clipping as a plain callable applied between ``backward`` and ``step``.

detectron2 clips by swapping the optimizer's class for a subclass whose ``step`` clips
first; that breaks ``isinstance`` checks, pickling and AMP's unscale order. Here the
training step calls the clipper explicitly, after ``scaler.unscale_(optimizer)`` when
AMP is on, so gradients are clipped in their true scale.
"""
import math
from typing import Iterable, Optional, Union

import torch

from engine.config.defaults import default_of
from engine.utils.errors import ConfigError
from engine.utils.registry import cfg_to_kwargs

__all__ = ["GradientClipper"]

CLIP_TYPES = ("norm", "value")
# an optimizer's clip_gradients defaults, written once in engine/config/defaults.py
DEFAULTS = default_of("solver.generator.optimizer.clip_gradients")


class GradientClipper:
    """Clip gradients by total norm or element-wise value; report the norm before clipping.

    Built from an optimizer node's ``clip_gradients`` subtree (missing keys take
    ``DEFAULTS``). Calling it with parameters (or a module) clips their ``.grad`` in
    place and returns the total gradient norm before clipping (a 0-dim tensor, for
    logging), or None when disabled.
    """

    def __init__(self, node=None, where: str = "solver.generator.optimizer.clip_gradients"):
        cfg = dict(DEFAULTS)
        if node is not None:
            if not hasattr(node, "items"):
                raise ConfigError(f"{where}: expected a dict like {DEFAULTS}, got {node!r}")
            given = cfg_to_kwargs(node)
            unknown = sorted(set(given) - set(DEFAULTS))
            if unknown:
                raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {sorted(DEFAULTS)}")
            cfg.update(given)
        self.enabled = bool(cfg["enabled"])
        self.clip_type = str(cfg["clip_type"]).lower()
        if self.clip_type not in CLIP_TYPES:
            raise ConfigError(f"{where}.clip_type must be one of {list(CLIP_TYPES)}, "
                              f"got {cfg['clip_type']!r}")
        self.clip_value = _number(cfg["clip_value"], f"{where}.clip_value")
        self.norm_type = _number(cfg["norm_type"], f"{where}.norm_type")
        if not self.clip_value > 0:
            raise ConfigError(f"{where}.clip_value must be > 0, got {cfg['clip_value']!r}")

    @classmethod
    def from_optimizer_node(cls, node, where: str = "solver.generator.optimizer") -> "GradientClipper":
        """The clipper an ``optimizer`` node's ``clip_gradients`` asks for (disabled if absent)."""
        sub = None
        if node is not None:
            sub = next((v for k, v in node.items() if str(k).lower() == "clip_gradients"), None)
        return cls(sub, f"{where}.clip_gradients")

    def __call__(self, parameters: Union[torch.nn.Module, Iterable[torch.Tensor]]
                 ) -> Optional[torch.Tensor]:
        if not self.enabled:
            return None
        if isinstance(parameters, torch.nn.Module):
            parameters = parameters.parameters()
        params = [p for p in parameters if p.grad is not None]
        if not params:
            return None
        if self.clip_type == "norm":
            return torch.nn.utils.clip_grad_norm_(params, self.clip_value, self.norm_type)
        norm = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad.detach(), self.norm_type) for p in params]),
            self.norm_type,
        )
        torch.nn.utils.clip_grad_value_(params, self.clip_value)
        return norm

    def __repr__(self):
        if not self.enabled:
            return "GradientClipper(disabled)"
        return (f"GradientClipper({self.clip_type}, clip_value={self.clip_value}, "
                f"norm_type={self.norm_type})")


def _number(value, key: str) -> float:
    """A float from the config; 'inf' is allowed so the max-norm can be asked for in YAML."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {value!r}") from None
    if math.isnan(out) or isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    return out
