"""Soft IoU (Jaccard) loss for segmentation, with the seed's parameters."""
from typing import Optional

from torch import Tensor

from .build import LOSS_ARCH_REGISTRY
from .targets import activate, one_hot_target, resolve_activation
from .weighted import WeightedLoss

__all__ = ["IOULoss"]


@LOSS_ARCH_REGISTRY.register()
class IOULoss(WeightedLoss):
    """``1 - (|P*T| + smooth) / (|P| + |T| - |P*T| + smooth)`` over the whole batch.

    ``input``: logits ``N x C x H x W``; ``apply_sigmoid=True`` (the seed's default)
    applies a sigmoid, ``False`` a softmax over C, as in the seed; ``activation='none'``
    takes probabilities. ``target``: class indices ``N x H x W`` / ``N x 1 x H x W``, a 0/1
    mask when C is 1, or shaped like ``input``. ``ignore_index`` pixels are left out.
    (The seed's version returns ``iou + (1 - iou)``, always 1; this one is the loss its
    name promises.) ``smooth`` makes an empty prediction of an empty target a perfect 0.
    The first three parameters are the seed's, in its order (``IOULoss(0.5)`` weighs 0.5).
    """

    def __init__(self, lambda_weight: float = 1.0, apply_sigmoid: Optional[bool] = None,
                 ignore_index: Optional[int] = None, smooth: float = 1e-6, activation: Optional[str] = None):
        super().__init__(lambda_weight)
        self.activation = resolve_activation("IOULoss", activation, apply_sigmoid,
                                             "apply_sigmoid", "sigmoid", "softmax")
        self.ignore_index = ignore_index
        self.smooth = float(smooth)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        prob = activate(input, self.activation)
        truth, valid = one_hot_target(type(self).__name__, target, prob, self.ignore_index)
        if valid is not None:
            prob, truth = prob * valid, truth * valid
        overlap = (prob * truth).sum()
        union = prob.sum() + truth.sum() - overlap
        return 1.0 - (overlap + self.smooth) / (union + self.smooth)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, ignore_index={self.ignore_index}, smooth={self.smooth}"
