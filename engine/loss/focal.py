"""Focal loss (Lin et al., 2017): cross-entropy that counts easy examples less.

torch has no class for it (torchvision has only the sigmoid, functional form). This one
takes what ``CrossEntropyLoss`` takes, and with ``gamma=0`` it equals it (same
``weight``, ``ignore_index`` and weighted-mean convention), so switching is one word.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .build import LOSS_ARCH_REGISTRY
from .weighted import WeightedLoss

__all__ = ["FocalLoss"]


@LOSS_ARCH_REGISTRY.register()
class FocalLoss(WeightedLoss):
    """``weight[t] * (1 - p_t) ** gamma * -log(p_t)`` over logits ``N x C x ...``."""

    def __init__(self, gamma: float = 2.0, weight: Optional[Tensor] = None,
                 ignore_index: int = -100, reduction: str = "mean", lambda_weight: float = 1.0):
        super().__init__(lambda_weight)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"FocalLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.gamma = float(gamma)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        ce = F.cross_entropy(input, target, ignore_index=self.ignore_index, reduction="none")
        loss = (1.0 - torch.exp(-ce)).pow(self.gamma) * ce
        valid = target != self.ignore_index
        w = valid.to(loss.dtype)
        if self.weight is not None:
            w = w * self.weight.to(loss.dtype)[torch.where(valid, target, 0)]
        loss = loss * w
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        return loss.sum() / w.sum()

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"
