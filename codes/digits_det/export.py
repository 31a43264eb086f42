"""The detector's inference graph for engine-export (its config's ``onnx.name``): the raw
heads (heat map, size, offset). Peak search and NMS are data-dependent Python loops
over the images of a batch; traced into ONNX they would be frozen to the example batch,
so they stay outside, in ``decode_detections`` (or the deployment's own decoder)."""
from torch import nn

from engine.export.build import EXPORT_WRAPPER_REGISTRY

__all__ = ["CenterNetHeadsExport"]


@EXPORT_WRAPPER_REGISTRY.register()
class CenterNetHeadsExport(nn.Module):
    """``images -> (heatmap logits N x C x H/4 x W/4, size N x 2 x .., offset N x 2 x ..)``."""

    def __init__(self, model):
        super().__init__()
        self.network = model.g_model

    def forward(self, images):
        return self.network(images)
