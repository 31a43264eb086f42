"""What the overlap losses (Dice, IoU, SSIM) share: turning logits into probabilities and
a segmentation target into a one-hot map shaped like them, with the ignored pixels.

The seed's losses accept a target as class indices ``N x H x W``, as ``N x 1 x H x W``,
or already shaped like the prediction (one-hot or soft); with one channel the indices
are a 0/1 mask. Written once here so every loss reads targets the same way.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils.errors import ConfigError, EngineError

__all__ = ["ACTIVATIONS", "resolve_activation", "activate", "one_hot_target"]

ACTIVATIONS = ("sigmoid", "softmax", "none")


def resolve_activation(owner: str, activation: Optional[str], seed_flag: Optional[bool],
                       seed_name: str, if_true: str, if_false: str) -> str:
    """The activation from ``activation`` or the seed's boolean spelling of it
    (``apply_sigmoid`` / ``apply_softmax``: ``if_true`` / ``if_false``); both given and
    disagreeing is an error, neither gives ``if_true`` (the seed's default)."""
    from_flag = None if seed_flag is None else (if_true if seed_flag else if_false)
    if activation is not None and activation not in ACTIVATIONS:
        raise ConfigError(f"{owner}: activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
    if activation is not None and from_flag is not None and activation != from_flag:
        raise ConfigError(f"{owner}: activation={activation!r} contradicts {seed_name}={seed_flag} "
                          f"(which means {from_flag!r}); give one of them.")
    return activation or from_flag or if_true


def activate(logits: Tensor, activation: str) -> Tensor:
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    if activation == "softmax":
        return logits.softmax(dim=1)
    return logits


def one_hot_target(owner: str, target: Tensor, prob: Tensor,
                   ignore_index: Optional[int]) -> Tuple[Tensor, Optional[Tensor]]:
    """``(truth, valid)``: ``truth`` shaped and typed like ``prob``; ``valid`` a 0/1 mask
    broadcastable to it (``N x 1 x ...`` for index targets), None without ignore_index."""
    classes = prob.shape[1]
    if target.shape == prob.shape:
        valid = None if ignore_index is None else (target != ignore_index)
        truth = target if valid is None else torch.where(valid, target, torch.zeros_like(target))
        return truth.to(prob.dtype), None if valid is None else valid.to(prob.dtype)
    if target.dim() == prob.dim() and target.shape[1] == 1:
        target = target[:, 0]
    if target.shape != prob.shape[:1] + prob.shape[2:]:
        raise EngineError(
            f"{owner}: target of shape {tuple(target.shape)} does not fit the prediction "
            f"{tuple(prob.shape)}; give class indices N x H x W (or N x 1 x H x W) or a "
            f"target shaped like the prediction."
        )
    valid = None
    if ignore_index is not None:
        valid = target != ignore_index
        target = torch.where(valid, target, torch.zeros_like(target))
        valid = valid.unsqueeze(1).to(prob.dtype)
    if classes == 1:
        truth = target.unsqueeze(1)
    else:
        truth = F.one_hot(target.long().clamp(0, classes - 1), classes).movedim(-1, 1)
    return truth.to(prob.dtype), valid
