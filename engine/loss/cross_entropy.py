"""The seed's ``GeneralizedCELoss``: one loss for softmax cross-entropy over classes and
per-class sigmoid (binary) cross-entropy, chosen by ``apply_sigmoid``, both on logits and
class-index targets with an ignored label.

It lives in the core (registered, exported by :mod:`engine.loss`) because a seed config
names it, ``dict(name='GeneralizedCELoss')``, without importing anything.

Averaging follows the seed (mmseg's old default): ``'mean'`` divides by every element,
ignored ones included, which are 0; ``avg_non_ignore=True`` divides by the labelled
elements only, so a batch with many ignored pixels is not scaled down.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils.errors import ConfigError, EngineError
from .build import LOSS_ARCH_REGISTRY
from .weighted import WeightedLoss

__all__ = ["GeneralizedCELoss"]

_REDUCTIONS = ("mean", "sum", "none")


@LOSS_ARCH_REGISTRY.register()
class GeneralizedCELoss(WeightedLoss):
    """``input``: logits ``N x C x ...``; ``target``: class indices ``N x ...`` or
    ``N x 1 x ...``.

    ``apply_sigmoid=False``: softmax cross-entropy. ``True``: binary cross-entropy of
    each class's logit against "is this the pixel's class" (one-hot); with ``C == 1`` the
    target is a 0/1 mask. Labels equal to ``ignore_index`` (and, in the sigmoid form,
    negative labels) count nowhere; ``None`` ignores no label.
    """

    def __init__(self, apply_sigmoid: bool = False, ignore_index: Optional[int] = None,
                 reduction: str = "mean", lambda_weight: float = 1.0, avg_non_ignore: bool = False):
        super().__init__(lambda_weight)
        if reduction not in _REDUCTIONS:
            raise ConfigError(f"GeneralizedCELoss: reduction must be one of {list(_REDUCTIONS)}, "
                              f"got {reduction!r}")
        self.apply_sigmoid = bool(apply_sigmoid)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.reduction = reduction
        self.avg_non_ignore = bool(avg_non_ignore)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        target = self._indices(input, target)
        if self.apply_sigmoid:
            loss, valid = self._binary(input, target)
        else:
            ignore = -100 if self.ignore_index is None else self.ignore_index
            loss = F.cross_entropy(input, target, ignore_index=ignore, reduction="none")
            valid = target != ignore
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        if self.avg_non_ignore:
            return loss.sum() / valid.sum().clamp_min(1).to(loss.dtype)
        return loss.mean()

    def _indices(self, input: Tensor, target: Tensor) -> Tensor:
        if target.dim() == input.dim() and target.shape[1] == 1:
            target = target[:, 0]
        if target.shape != input.shape[:1] + input.shape[2:]:
            raise EngineError(
                f"GeneralizedCELoss: target of shape {tuple(target.shape)} does not fit the "
                f"prediction {tuple(input.shape)}; give class indices N x H x W or N x 1 x H x W.")
        return target.long()

    def _binary(self, input: Tensor, target: Tensor) -> Tuple[Tensor, Tensor]:
        """Element-wise BCE of the logits (the seed applies a sigmoid before
        ``binary_cross_entropy_with_logits`` when C is 1, i.e. two) and the 0/1 validity."""
        valid = target >= 0
        if self.ignore_index is not None:
            valid &= target != self.ignore_index
        labels = torch.where(valid, target, torch.zeros_like(target))
        if input.shape[1] == 1:
            if labels.numel() and int(labels.max()) > 1:
                raise EngineError(
                    f"GeneralizedCELoss: with one output channel the target is a 0/1 mask, but "
                    f"it holds label {int(labels.max())}; set ignore_index for unlabelled pixels.")
            logits, truth = input[:, 0], labels.to(input.dtype)
        else:
            logits, truth = input, F.one_hot(labels, input.shape[1]).movedim(-1, 1).to(input.dtype)
            valid = valid.unsqueeze(1).expand_as(input)
        mask = valid.to(input.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, truth, reduction="none") * mask
        return loss, valid

    def extra_repr(self) -> str:
        return (f"apply_sigmoid={self.apply_sigmoid}, ignore_index={self.ignore_index}, "
                f"reduction={self.reduction!r}, avg_non_ignore={self.avg_non_ignore}")
