"""Additive-margin softmax losses for feature learning: CosFace and ArcFace.

Both score an L2-normalised embedding against L2-normalised class weights (cosines) and
push the true class's cosine down by a margin before a scaled cross-entropy, so that
classes end up separated by an angle, not just by a boundary: embeddings of classes
never seen in training then still cluster, which is what open-set retrieval measures.

The class weights are parameters of the loss module. Put the loss inside the trained
network (see codes/digits_embed) and they are optimised, EMA-averaged and checkpointed
like any other weight; the exported inference branch leaves them out.
"""
import math

import torch
from torch import nn
from torch.nn import functional as nnf

from .build import LOSS_ARCH_REGISTRY
from .weighted import WeightedLoss

__all__ = ["CosFaceLoss", "ArcFaceLoss"]


class _MarginLoss(WeightedLoss):
    def __init__(self, in_features: int, num_classes: int, scale: float, margin: float, lambda_weight: float = 1.0):
        super().__init__(lambda_weight)
        if int(in_features) < 1 or int(num_classes) < 2:
            raise ValueError(f"{type(self).__name__}: need in_features >= 1 and num_classes >= 2, "
                             f"got {in_features} and {num_classes}")
        self.in_features, self.num_classes = int(in_features), int(num_classes)
        self.scale, self.margin = float(scale), float(margin)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.in_features))
        nn.init.xavier_uniform_(self.weight)

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """N x num_classes cosines between the embeddings and the class weights."""
        return nnf.linear(nnf.normalize(embeddings, dim=1), nnf.normalize(self.weight, dim=1))

    def target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.dim() != 2 or embeddings.shape[1] != self.in_features:
            raise ValueError(f"{type(self).__name__}: expected N x {self.in_features} embeddings, "
                             f"got shape {list(embeddings.shape)}")
        cos = self.cosines(embeddings.to(self.weight.dtype))
        labels = labels.long().view(-1, 1)
        cos_target = cos.gather(1, labels)
        logits = cos.scatter(1, labels, self.target_logit(cos_target))
        return nnf.cross_entropy(self.scale * logits, labels.view(-1))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, "
                f"scale={self.scale}, margin={self.margin}")


@LOSS_ARCH_REGISTRY.register()
class CosFaceLoss(_MarginLoss):
    """CosFace / AM-softmax (Wang et al. 2018): the true class's logit is
    ``scale * (cos(theta) - margin)``."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0, margin: float = 0.35,
                 lambda_weight: float = 1.0):
        super().__init__(in_features, num_classes, scale, margin, lambda_weight)

    def target_logit(self, cos_target):
        return cos_target - self.margin


@LOSS_ARCH_REGISTRY.register()
class ArcFaceLoss(_MarginLoss):
    """ArcFace (Deng et al. 2019): the true class's logit is ``scale * cos(theta + margin)``;
    past ``theta > pi - margin``, where cos(theta + m) would rise again, it falls back to
    CosFace's linear penalty ``cos(theta) - margin * sin(margin)`` (as insightface does)."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0, margin: float = 0.5,
                 lambda_weight: float = 1.0):
        super().__init__(in_features, num_classes, scale, margin, lambda_weight)

    def target_logit(self, cos_target):
        m = self.margin
        sin_target = torch.sqrt((1.0 - cos_target * cos_target).clamp(min=1e-7))
        arc = cos_target * math.cos(m) - sin_target * math.sin(m)
        return torch.where(cos_target > math.cos(math.pi - m), arc, cos_target - m * math.sin(m))
