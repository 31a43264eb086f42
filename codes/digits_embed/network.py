"""The feature-learning network: an embedding backbone trained through a margin head.

``MarginNetwork`` holds both the backbone (any registered network; the example uses
``DigitsNet`` with ``num_classes`` = the embedding size) and the configured losses
(``trainer.model.loss``: a ``CosFaceLoss`` / ``ArcFaceLoss`` with its class weights).
One module for both means the head's class weights are optimised, EMA-averaged,
checkpointed and wrapped for DDP with the backbone, with no special case anywhere; at
inference only the backbone runs (``forward(images)``), which is also what is exported.
"""
from typing import Dict, Optional

import torch
from torch import nn
from torch.nn import functional as nnf

__all__ = ["MarginNetwork"]


class MarginNetwork(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None):
        """L2-normalised embeddings N x D; with ``labels``, the head's loss terms instead."""
        embeddings = self.backbone(images)
        if labels is None:
            return nnf.normalize(embeddings, dim=1)
        losses: Dict[str, torch.Tensor] = self.head((embeddings, labels))
        return losses
