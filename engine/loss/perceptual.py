"""Perceptual loss on VGG features (Johnson et al., 2016), the seed's ``VggLoss``.

The VGG weights are read from a local file (``vgg_path``, a torchvision VGG state_dict
such as ``vgg16-397923af.pth``); nothing is downloaded, since training machines are often
offline and a silent download would make two runs differ. Only the convolutional
``features`` are built and loaded (the classifier's 100M+ parameters of the file are
skipped), frozen and kept in eval mode.
"""
import os
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs as _VGG_LAYOUTS, make_layers

from ..utils.errors import ConfigError, EngineError
from .build import LOSS_ARCH_REGISTRY
from .weighted import WeightedLoss

__all__ = ["VggLoss", "VGG", "VGG_ARCHS", "load_vgg_features"]

_LAYOUT = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
#: The architectures ``vgg_arch`` may name (torchvision's names).
VGG_ARCHS = tuple(a + bn for a in _LAYOUT for bn in ("", "_bn"))


def load_vgg_features(vgg_path: str, vgg_arch: str, owner: str = "VggLoss") -> nn.Sequential:
    """torchvision's ``<vgg_arch>().features`` with the weights of ``vgg_path``, frozen."""
    if vgg_arch not in VGG_ARCHS:
        raise ConfigError(f"{owner}: vgg_arch {vgg_arch!r} is not one of {list(VGG_ARCHS)}")
    if not isinstance(vgg_path, str) or not os.path.isfile(vgg_path):
        raise ConfigError(
            f"{owner}: vgg_path {vgg_path!r} is not a file. Nothing is downloaded: save "
            f"torchvision's {vgg_arch} weights (e.g. vgg16-397923af.pth) on this machine and "
            f"set param.vgg_path to it."
        )
    try:
        state = torch.load(vgg_path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and format errors alike: the file is not weights
        raise ConfigError(f"{owner}: vgg_path {vgg_path!r} could not be read as a state_dict: {e}") from None
    weights = {k[len("features."):]: v for k, v in state.items()
               if isinstance(k, str) and k.startswith("features.")} if isinstance(state, Mapping) else {}
    if not weights:
        raise ConfigError(f"{owner}: {vgg_path!r} holds no 'features.*' weights; expected a "
                          f"torchvision VGG state_dict (vgg16().state_dict()).")
    batch_norm = vgg_arch.endswith("_bn")
    with torch.device("meta"):  # no random init of weights about to be replaced
        features = make_layers(_VGG_LAYOUTS[_LAYOUT[vgg_arch.replace("_bn", "")]], batch_norm=batch_norm)
    try:
        features.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:400]
        raise ConfigError(f"{owner}: the weights in {vgg_path!r} do not fit vgg_arch "
                          f"{vgg_arch!r}: {detail}") from None
    features.requires_grad_(False)
    return features.eval()


class VGG(nn.Module):
    """The seed's frozen feature extractor, ``VGG(vgg_path, vgg_arch)(x)`` the output of
    all of ``features``, for a project's own perceptual terms; its state_dict keys
    (``features.<i>.weight``) are the seed's."""

    def __init__(self, vgg_path: str, vgg_arch: str = "vgg16"):
        super().__init__()
        self.vgg_path, self.vgg_arch = vgg_path, vgg_arch
        self.features = load_vgg_features(vgg_path, vgg_arch, owner="VGG")

    def train(self, mode: bool = True) -> "VGG":
        super().train(mode)
        self.features.eval()  # frozen: batch-norm statistics must not move
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)

    def extra_repr(self) -> str:
        return f"vgg_arch={self.vgg_arch!r}, vgg_path={self.vgg_path!r}"


@LOSS_ARCH_REGISTRY.register()
class VggLoss(WeightedLoss):
    """``MSE(vgg.features(input), vgg.features(target))`` of ``N x 3 x H x W`` images, as
    the seed computes it (all of ``features``, no input normalisation)."""

    def __init__(self, vgg_path: str, vgg_arch: str = "vgg16", lambda_weight: float = 1.0):
        super().__init__(lambda_weight)
        self.vgg_path, self.vgg_arch = vgg_path, vgg_arch
        self.features = load_vgg_features(vgg_path, vgg_arch)

    def train(self, mode: bool = True) -> "VggLoss":
        super().train(mode)
        self.features.eval()  # frozen: batch-norm statistics must not move
        return self

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if input.shape != target.shape:
            raise EngineError(f"VggLoss: input {tuple(input.shape)} and target "
                              f"{tuple(target.shape)} must have one shape")
        return F.mse_loss(self.features(input), self.features(target))

    def extra_repr(self) -> str:
        return f"vgg_arch={self.vgg_arch!r}, vgg_path={self.vgg_path!r}"
