"""The ``torch.nn`` losses the seed wrapped, registered under their torch names.

The seed's ``engine.loss.torch_loss`` subclasses eleven ``torch.nn`` losses so that they
take ``lambda_weight`` (first, positionally: ``CrossEntropyLoss(2.0)`` weighs 2.0) and,
for ``CrossEntropyLoss`` / ``NLLLoss``, an index target ``N x 1 x H x W``. Seed configs name
them ``CrossEntropyLoss`` with such targets, so these subclasses, not torch's classes,
are what those names mean in :data:`LOSS_ARCH_REGISTRY` from the start; importing the
seed's module changes nothing. From a config, ``param.lambda_weight`` never reaches the
constructor (:func:`engine.loss.build.build_loss`): the loss entry applies it, once.
Every other argument and the result are torch's.
"""
from typing import Callable, Dict, Optional

from torch import Tensor, nn

__all__ = [
    "L1Loss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss",
    "SoftMarginLoss", "CrossEntropyLoss", "MultiLabelSoftMarginLoss", "TripletMarginLoss",
    "TripletMarginWithDistanceLoss", "WRAPPED",
]


def _weighted(loss: nn.Module, value: Tensor) -> Tensor:
    return value if loss.lambda_weight == 1.0 else value * loss.lambda_weight


def _index_target(input: Tensor, target: Tensor) -> Tensor:
    """``N x 1 x ...`` class indices as ``N x ...``; a target shaped like the input
    otherwise (class probabilities) is torch's business."""
    if target.dim() == input.dim() and target.dim() > 1 and target.shape[1] == 1:
        return target[:, 0]
    return target


class _PairLoss:
    """``forward(input_tensor, target_tensor)`` (the seed's argument names): torch's
    loss times ``lambda_weight``."""

    def forward(self, input_tensor: Tensor, target_tensor: Tensor) -> Tensor:
        return _weighted(self, super().forward(input_tensor, target_tensor))


class _IndexTargetLoss(_PairLoss):
    """The same, taking an ``N x 1 x ...`` index target as ``N x ...``."""

    def forward(self, input_tensor: Tensor, target_tensor: Tensor) -> Tensor:
        return super().forward(input_tensor, _index_target(input_tensor, target_tensor))


class L1Loss(_PairLoss, nn.L1Loss):
    def __init__(self, lambda_weight: float = 1.0, size_average=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduction=reduction)
        self.lambda_weight = float(lambda_weight)


class NLLLoss(_IndexTargetLoss, nn.NLLLoss):
    def __init__(self, lambda_weight: float = 1.0, weight: Optional[Tensor] = None,
                 ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, ignore_index=ignore_index, reduction=reduction)
        self.lambda_weight = float(lambda_weight)


class MSELoss(_PairLoss, nn.MSELoss):
    def __init__(self, lambda_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.lambda_weight = float(lambda_weight)


class BCELoss(_PairLoss, nn.BCELoss):
    def __init__(self, lambda_weight: float = 1.0, weight: Optional[Tensor] = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)
        self.lambda_weight = float(lambda_weight)


class BCEWithLogitsLoss(_PairLoss, nn.BCEWithLogitsLoss):
    def __init__(self, lambda_weight: float = 1.0, weight: Optional[Tensor] = None,
                 reduction: str = "mean", pos_weight: Optional[Tensor] = None) -> None:
        super().__init__(weight, reduction=reduction, pos_weight=pos_weight)
        self.lambda_weight = float(lambda_weight)


class SmoothL1Loss(_PairLoss, nn.SmoothL1Loss):
    def __init__(self, lambda_weight: float = 1.0, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction, beta=beta)
        self.lambda_weight = float(lambda_weight)


class SoftMarginLoss(_PairLoss, nn.SoftMarginLoss):
    def __init__(self, lambda_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.lambda_weight = float(lambda_weight)


class CrossEntropyLoss(_IndexTargetLoss, nn.CrossEntropyLoss):
    def __init__(self, lambda_weight: float = 1.0, weight: Optional[Tensor] = None,
                 ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, ignore_index=ignore_index, reduction=reduction,
                         label_smoothing=label_smoothing)
        self.lambda_weight = float(lambda_weight)


class MultiLabelSoftMarginLoss(_PairLoss, nn.MultiLabelSoftMarginLoss):
    def __init__(self, lambda_weight: float = 1.0, weight: Optional[Tensor] = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, reduction=reduction)
        self.lambda_weight = float(lambda_weight)


class TripletMarginLoss(nn.TripletMarginLoss):
    def __init__(self, lambda_weight: float = 1.0, margin: float = 1.0, p: float = 2.0,
                 eps: float = 1e-6, swap: bool = False, reduction: str = "mean") -> None:
        super().__init__(margin, p=p, eps=eps, swap=swap, reduction=reduction)
        self.lambda_weight = float(lambda_weight)

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return _weighted(self, super().forward(anchor, positive, negative))


class TripletMarginWithDistanceLoss(nn.TripletMarginWithDistanceLoss):
    def __init__(self, lambda_weight: float = 1.0,
                 distance_function: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
                 margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> None:
        super().__init__(distance_function=distance_function, margin=margin, swap=swap,
                         reduction=reduction)
        self.lambda_weight = float(lambda_weight)

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return _weighted(self, super().forward(anchor, positive, negative))


#: torch name -> the class registered under it instead of torch's.
WRAPPED: Dict[str, type] = {name: globals()[name] for name in __all__ if name != "WRAPPED"}
