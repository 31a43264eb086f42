"""Losses: a registry of loss classes and weighted, config-driven sums of them."""
from .build import LOSS_ARCH_REGISTRY, build_loss
from .dice import DiceLoss
from .focal import FocalLoss
from .pipe import LossCompose, LossKeyCompose
from .term import LossTerm

__all__ = [
    "LOSS_ARCH_REGISTRY", "build_loss", "LossTerm", "LossCompose", "LossKeyCompose",
    "FocalLoss", "DiceLoss",
]
