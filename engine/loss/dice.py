"""Soft Dice loss for segmentation, which torch does not provide.

Dice measures overlap per class, so a small foreground is not drowned by a large
background the way it is in a pixel-averaged cross-entropy; the two are often summed
(two entries in one loss list).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .build import LOSS_ARCH_REGISTRY

__all__ = ["DiceLoss"]


@LOSS_ARCH_REGISTRY.register()
class DiceLoss(nn.Module):
    """``1 - mean over classes of (2|P*T| + smooth) / (|P| + |T| + smooth)``.

    ``input``: logits ``N x C x ...``. ``target``: class indices ``N x ...`` (softmax over
    C), or with ``C == 1`` a 0/1 mask shaped like ``input`` or ``N x ...`` (sigmoid).
    ``smooth`` keeps a class absent from both prediction and target from dividing by 0.
    """

    def __init__(self, smooth: float = 1.0, ignore_index: Optional[int] = None):
        super().__init__()
        self.smooth = float(smooth)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        num_classes = input.shape[1]
        target = target.reshape(input.shape[:1] + input.shape[2:])
        valid = torch.ones_like(target, dtype=torch.bool)
        if self.ignore_index is not None:
            valid = target != self.ignore_index
            target = torch.where(valid, target, torch.zeros_like(target))
        if num_classes == 1:
            prob = torch.sigmoid(input)
            truth = target.unsqueeze(1).to(prob.dtype)
        else:
            prob = input.softmax(dim=1)
            truth = F.one_hot(target.long(), num_classes).movedim(-1, 1).to(prob.dtype)
        mask = valid.unsqueeze(1).to(prob.dtype)
        prob, truth = prob * mask, truth * mask
        dims = (0,) + tuple(range(2, input.dim()))
        overlap = (prob * truth).sum(dims)
        total = prob.sum(dims) + truth.sum(dims)
        return 1.0 - ((2.0 * overlap + self.smooth) / (total + self.smooth)).mean()

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, ignore_index={self.ignore_index}"
