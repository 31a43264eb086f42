"""Losses: a registry of loss classes and weighted, config-driven sums of them.

The seed's ``engine.loss`` star-imported its loss modules, so projects import its loss
classes (``GeneralizedCELoss``, its ``torch.nn`` wrappers) from here; they are ours."""
from .build import LOSS_ARCH_REGISTRY, build_loss
from .cross_entropy import GeneralizedCELoss
from .dice import BinaryDiceLoss, DiceLoss, GeneralizedDiceLoss
from .focal import FocalLoss
from .iou import IOULoss
from .margin import ArcFaceLoss, CosFaceLoss
from .nn_losses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss,
                        MultiLabelSoftMarginLoss, NLLLoss, SmoothL1Loss, SoftMarginLoss,
                        TripletMarginLoss, TripletMarginWithDistanceLoss)
from .ohem import OnlineHardExampleMiningCELoss
from .perceptual import VggLoss
from .pipe import LossCompose, LossKeyCompose, LossKeyCompose2, pop_logged_values
from .ssim import SSIMLoss
from .term import LossTerm

__all__ = [
    "LOSS_ARCH_REGISTRY", "build_loss", "LossTerm", "LossCompose", "LossKeyCompose",
    "LossKeyCompose2", "pop_logged_values", "FocalLoss", "DiceLoss", "BinaryDiceLoss",
    "GeneralizedDiceLoss", "GeneralizedCELoss", "IOULoss", "OnlineHardExampleMiningCELoss",
    "SSIMLoss", "VggLoss", "CosFaceLoss", "ArcFaceLoss",
    "L1Loss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss",
    "SoftMarginLoss", "CrossEntropyLoss", "MultiLabelSoftMarginLoss", "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]
