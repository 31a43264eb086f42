"""Dice losses for segmentation, which torch does not provide.

Dice measures overlap per class, so a small foreground is not drowned by a large
background the way it is in a pixel-averaged cross-entropy; the two are often summed
(two entries in one loss list). ``DiceLoss`` is the engine's; ``BinaryDiceLoss`` and
``GeneralizedDiceLoss`` take the seed's parameters (``apply_sigmoid``, ``eps``, ...).
All take logits and read targets as :mod:`engine.loss.targets` says.
"""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from ..utils.errors import ConfigError
from .build import LOSS_ARCH_REGISTRY
from .targets import activate, one_hot_target
from .weighted import WeightedLoss

__all__ = ["DiceLoss", "BinaryDiceLoss", "GeneralizedDiceLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _overlaps(owner: str, prob: Tensor, target: Tensor, ignore_index: Optional[int], dims):
    """Per-class (and per-sample when ``dims`` keeps the batch) sums of ``P*T``, ``P + T``
    and ``T`` over ``dims``, ignored pixels left out."""
    truth, valid = one_hot_target(owner, target, prob, ignore_index)
    if valid is not None:
        prob, truth = prob * valid, truth * valid
    return (prob * truth).sum(dims), (prob + truth).sum(dims), truth.sum(dims)


@LOSS_ARCH_REGISTRY.register()
class DiceLoss(WeightedLoss):
    """``1 - mean over classes of (2|P*T| + smooth) / (|P| + |T| + smooth)``.

    ``input``: logits ``N x C x ...``. ``target``: class indices ``N x ...`` (softmax over
    C), or with ``C == 1`` a 0/1 mask shaped like ``input`` or ``N x ...`` (sigmoid).
    ``smooth`` keeps a class absent from both prediction and target from dividing by 0.
    """

    def __init__(self, smooth: float = 1.0, ignore_index: Optional[int] = None, lambda_weight: float = 1.0):
        super().__init__(lambda_weight)
        self.smooth = float(smooth)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        prob = activate(input, "sigmoid" if input.shape[1] == 1 else "softmax")
        dims = (0,) + tuple(range(2, input.dim()))
        overlap, total, _ = _overlaps(type(self).__name__, prob, target, self.ignore_index, dims)
        return 1.0 - ((2.0 * overlap + self.smooth) / (total + self.smooth)).mean()

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, ignore_index={self.ignore_index}"


@LOSS_ARCH_REGISTRY.register()
class BinaryDiceLoss(WeightedLoss):
    """The seed's binary Dice: ``1 - (2|P*T| + smooth) / (|P| + |T| + eps + smooth)`` per
    channel over batch and pixels, times ``weight`` (per channel), then ``reduction``
    over the channels: ``'mean'`` (default), ``'sum'``, or ``'none'`` (one value per
    channel, as the released seed (engine_frame 3.0) gives it; SOLOv2 heads put one
    instance mask per channel and divide the sum by the number of instances).

    ``input``: logits ``N x 1 x H x W`` (sigmoid inside unless ``apply_sigmoid=False``,
    then probabilities). ``target``: a 0/1 mask ``N x H x W``, ``N x 1 x H x W``.
    ``ignore_index`` (not the seed's, which has no way to leave unlabelled pixels out of a
    binary mask): pixels with that value count in neither prediction nor target."""

    def __init__(self, apply_sigmoid: bool = True, smooth: float = 1.0, eps: float = 1e-5,
                 weight: Union[None, float, Sequence[float], Tensor] = None, lambda_weight: float = 1.0,
                 ignore_index: Optional[int] = None, reduction: str = "mean"):
        super().__init__(lambda_weight)
        if reduction not in _REDUCTIONS:
            raise ConfigError(f"BinaryDiceLoss: reduction must be one of {list(_REDUCTIONS)}, "
                              f"got {reduction!r}")
        self.reduction = reduction
        self.apply_sigmoid = bool(apply_sigmoid)
        self.ignore_index = ignore_index
        self.smooth, self.eps = float(smooth), float(eps)
        self.register_buffer("weight", None if weight is None else
                             torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        prob = activate(input, "sigmoid" if self.apply_sigmoid else "none")
        dims = (0,) + tuple(range(2, input.dim()))
        overlap, total, _ = _overlaps(type(self).__name__, prob, target, self.ignore_index, dims)
        loss = 1.0 - (2.0 * overlap + self.smooth) / (total + self.eps + self.smooth)
        if self.weight is not None:
            loss = loss * self.weight.to(loss.dtype)
        if self.reduction == "none":
            return loss
        return loss.sum() if self.reduction == "sum" else loss.mean()

    def extra_repr(self) -> str:
        return (f"apply_sigmoid={self.apply_sigmoid}, smooth={self.smooth}, eps={self.eps}, "
                f"ignore_index={self.ignore_index}, reduction={self.reduction!r}")


@LOSS_ARCH_REGISTRY.register()
class GeneralizedDiceLoss(WeightedLoss):
    """Generalised Dice (Sudre et al., 2017): each class counts with the weight
    ``1 / |T_c|^2`` (0 for a class absent from the target), so rare classes weigh as much
    as large ones: ``1 - (2 sum_c w_c |P_c*T_c| + smooth) / (sum_c w_c (|P_c| + |T_c|) + eps
    + smooth)``.

    ``input``: logits ``N x C x ...`` (softmax inside unless ``apply_softmax=False``).
    ``target``: class indices ``N x ...`` / ``N x 1 x ...`` or one-hot like ``input``;
    ``ignore_index`` pixels are left out. ``reduce_over_batches=True``: one value per
    sample (weights per sample), reduced by ``reduction``; else one over the batch.
    ``weight`` exists for the seed's signature only (it forbids class weights here).
    """

    def __init__(self, apply_softmax: bool = True, ignore_index: Optional[int] = None,
                 smooth: float = 0.0, eps: float = 1e-17, reduce_over_batches: bool = False,
                 reduction: str = "mean", weight: None = None, lambda_weight: float = 1.0):
        super().__init__(lambda_weight)
        if weight is not None:
            raise ConfigError("GeneralizedDiceLoss: weight must be None; the class weights are "
                              "1 / (class area)^2 by definition (the seed forbids it too).")
        if reduction not in _REDUCTIONS:
            raise ConfigError(f"GeneralizedDiceLoss: reduction must be one of {list(_REDUCTIONS)}, "
                              f"got {reduction!r}")
        self.apply_softmax = bool(apply_softmax)
        self.ignore_index = ignore_index
        self.smooth, self.eps = float(smooth), float(eps)
        self.reduce_over_batches = bool(reduce_over_batches)
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        # float32 at least: 1 / area^2 and eps=1e-17 underflow to 0 in float16 (0 / 0)
        prob = activate(input.float() if input.element_size() < 4 else input,
                        "softmax" if self.apply_softmax else "none")
        spatial = tuple(range(2, input.dim()))
        dims = spatial if self.reduce_over_batches else (0,) + spatial
        overlap, total, area = _overlaps(type(self).__name__, prob, target, self.ignore_index, dims)
        weight = torch.where(area > 0, 1.0 / area.clamp_min(1e-30) ** 2, torch.zeros_like(area))
        numerator = 2.0 * (weight * overlap).sum(-1) + self.smooth
        denominator = (weight * total).sum(-1) + self.eps + self.smooth
        loss = 1.0 - numerator / denominator
        if self.reduction == "none":
            return loss
        return loss.sum() if self.reduction == "sum" else loss.mean()

    def extra_repr(self) -> str:
        return (f"apply_softmax={self.apply_softmax}, ignore_index={self.ignore_index}, "
                f"smooth={self.smooth}, eps={self.eps}, reduce_over_batches={self.reduce_over_batches}")
