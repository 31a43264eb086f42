"""Losses: a registry of loss classes and weighted, config-driven sums of them."""
from .build import LOSS_ARCH_REGISTRY, build_loss
from .dice import BinaryDiceLoss, DiceLoss, GeneralizedDiceLoss
from .focal import FocalLoss
from .iou import IOULoss
from .margin import ArcFaceLoss, CosFaceLoss
from .ohem import OnlineHardExampleMiningCELoss
from .perceptual import VggLoss
from .pipe import LossCompose, LossKeyCompose, LossKeyCompose2, pop_logged_values
from .ssim import SSIMLoss
from .term import LossTerm

__all__ = [
    "LOSS_ARCH_REGISTRY", "build_loss", "LossTerm", "LossCompose", "LossKeyCompose",
    "LossKeyCompose2", "pop_logged_values", "FocalLoss", "DiceLoss", "BinaryDiceLoss",
    "GeneralizedDiceLoss", "IOULoss", "OnlineHardExampleMiningCELoss", "SSIMLoss", "VggLoss",
    "CosFaceLoss", "ArcFaceLoss",
]
