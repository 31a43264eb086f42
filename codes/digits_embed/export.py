"""The inference wrapper engine-export uses for the feature-learning example (its config's
``onnx.name``): only the embedding branch, as DocClassifier exports it. The margin head and
its class weights are training-only and stay out of the ONNX file."""
from torch import nn
from torch.nn import functional as nnf

from engine.export.build import EXPORT_WRAPPER_REGISTRY

__all__ = ["EmbeddingExport"]


@EXPORT_WRAPPER_REGISTRY.register()
class EmbeddingExport(nn.Module):
    """``images (N x 1 x 16 x 16 float) -> L2-normalised embeddings (N x D)``."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.g_model.backbone

    def forward(self, images):
        return nnf.normalize(self.backbone(images), dim=1)
