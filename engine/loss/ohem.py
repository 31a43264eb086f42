"""Online hard example mining cross-entropy (BiSeNet-style), with the seed's parameters.

On a segmentation map most pixels are easy; averaging over all of them lets the easy
ones dominate. This loss averages only the hard pixels: those whose cross-entropy is
above ``-log(thresh)`` (the predicted probability of the true class below ``thresh``),
and at least the ``n_min`` hardest, so an almost-solved batch still gives a gradient.
"""
from typing import Optional

import math

import torch.nn.functional as F
from torch import Tensor

from ..utils.errors import ConfigError
from .build import LOSS_ARCH_REGISTRY
from .weighted import WeightedLoss

__all__ = ["OnlineHardExampleMiningCELoss"]


@LOSS_ARCH_REGISTRY.register()
class OnlineHardExampleMiningCELoss(WeightedLoss):
    """Mean cross-entropy of the pixels with loss ``> -log(thresh)``; when fewer than
    ``n_min = (labelled pixels) * min_kept_fraction`` (the seed: 1/16) are, the mean of
    the ``n_min`` largest. ``input``: logits ``N x C x ...``; ``target``: class indices
    ``N x ...`` (or ``N x 1 x ...``), ``ignore_lb`` unlabelled. ``device`` is accepted for
    the seed's configs and unused (the loss works on its inputs' device); the first three
    parameters keep the seed's order."""

    def __init__(self, thresh: float = 0.7, ignore_lb: int = 255, device: Optional[str] = None,
                 min_kept_fraction: float = 1 / 16, lambda_weight: float = 1.0):
        super().__init__(lambda_weight)
        if not 0.0 < float(thresh) <= 1.0:
            raise ConfigError(f"OnlineHardExampleMiningCELoss: thresh is a probability in (0, 1], "
                              f"got {thresh!r}")
        self.thresh = float(thresh)
        self.ignore_lb = int(ignore_lb)
        self.min_kept_fraction = float(min_kept_fraction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if target.dim() == input.dim() and target.shape[1] == 1:
            target = target[:, 0]
        loss = F.cross_entropy(input, target.long(), ignore_index=self.ignore_lb,
                               reduction="none").reshape(-1)
        n_min = int(int((target != self.ignore_lb).sum()) * self.min_kept_fraction)
        hard = loss[loss > -math.log(self.thresh)]
        if hard.numel() < n_min:
            hard = loss.topk(n_min).values
        if hard.numel() == 0:
            return loss.sum() * 0.0  # nothing hard, nothing to keep: no gradient, not NaN
        return hard.mean()

    def extra_repr(self) -> str:
        return (f"thresh={self.thresh}, ignore_lb={self.ignore_lb}, "
                f"min_kept_fraction={self.min_kept_fraction}")
