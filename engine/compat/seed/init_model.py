"""The seed's ``select_weights_init(wtype)``: a function for ``network.apply`` that
initialises convolutions (Xavier-normal, or Kaiming-normal for ``'kaiming'``) and affine
BatchNorm2d/InstanceNorm2d (weight ~ N(1, 0.02), bias 0). Modules are chosen by class
name, as in the seed; one whose name says ``Conv`` but that has no weight tensor (a
project's ``ConvBlock`` container) is skipped instead of raising AttributeError."""
import torch

__all__ = ["select_weights_init"]


def _init_norm(m) -> None:
    if getattr(m, "affine", False):
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)


def _initializer(conv_init):
    def init(m):
        name = type(m).__name__
        if "Conv" in name:
            if isinstance(getattr(m, "weight", None), torch.Tensor):
                conv_init(m.weight.data)
        elif "BatchNorm2d" in name or "InstanceNorm2d" in name:
            _init_norm(m)
    return init


_xavier = _initializer(torch.nn.init.xavier_normal_)
_kaiming = _initializer(torch.nn.init.kaiming_normal_)


def select_weights_init(wtype):
    return _kaiming if wtype == "kaiming" else _xavier
