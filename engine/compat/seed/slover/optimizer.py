"""The seed's ``build_optimizer_with_gradient_clipping``: an optimizer class whose ``step``
clips first. Our core clips in the training step instead (engine/solver/clip.py), but seed
projects build their optimizers through this function and call ``step`` themselves, so
the subclass stays; the clipping inside it is our :class:`GradientClipper`.

As in the seed, norm clipping applies to each parameter on its own (``GROUP: False``, the
seed's default) or to each param group as a whole (``GROUP: True``); clipping by value
is element-wise either way.
"""
from enum import Enum
from typing import Mapping, Type, Union

import torch

from engine.solver.clip import GradientClipper
from engine.utils.registry import cfg_to_kwargs

__all__ = ["GradientClipType", "build_optimizer_with_gradient_clipping"]


class GradientClipType(Enum):
    VALUE = "value"
    NORM = "norm"


def _clipper(cfg: dict) -> GradientClipper:
    clip_type = GradientClipType(cfg.get("clip_type", GradientClipType.VALUE.value))
    node = {"enabled": True, "clip_type": clip_type.value}
    for key in ("clip_value", "norm_type"):
        if key in cfg:
            node[key] = cfg[key]
    return GradientClipper(node, "solver.generator.clip_gradients")


def _with_clipping(base: Type[torch.optim.Optimizer], clip: GradientClipper, per_group: bool):
    # The seed calls super(type(self), self).step: a subclass of the generated class then
    # recurses forever. Naming the generated class itself does not.
    def step(self, closure=None):
        for group in self.param_groups:
            if per_group:
                clip(group["params"])
            else:
                for p in group["params"]:
                    clip([p])
        return super(cls, self).step(closure)

    cls = type(base.__name__ + "WithGradientClip", (base,), {"step": step, "__module__": __name__})
    return cls


def build_optimizer_with_gradient_clipping(
        clip_granients: Mapping,
        optimizer: Union[Type[torch.optim.Optimizer], torch.optim.Optimizer]):
    """``optimizer`` unchanged when clipping is off; else a subclass (or, given an
    instance, that instance re-classed, as the seed does) whose ``step`` clips first.
    The config's keys are the seed's (``ENABLED``, ``CLIP_TYPE``, ``CLIP_VALUE``,
    ``NORM_TYPE``, ``GROUP``), in either case."""
    cfg = cfg_to_kwargs(clip_granients or {})
    if not cfg.get("enabled", False):
        return optimizer
    instance = isinstance(optimizer, torch.optim.Optimizer)
    base = type(optimizer) if instance else optimizer
    if not (isinstance(base, type) and issubclass(base, torch.optim.Optimizer)):
        raise TypeError(f"expected a torch.optim.Optimizer class or instance, got {optimizer!r}")
    cls = _with_clipping(base, _clipper(cfg), bool(cfg.get("group", False)))
    if instance:
        optimizer.__class__ = cls
        return optimizer
    return cls
