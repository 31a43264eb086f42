"""The detection example's bundle: CenterNet targets and losses in ``run_step``,
decoded and NMS-filtered boxes from ``generator`` (what ``DetectionEvaluator`` reads).

``postprocess`` is not needed: ``generator`` already returns one
``dict(boxes, scores, labels)`` per image. The raw heads (heat map, size, offset) are
what ``g_model`` returns, and what the ONNX export wraps (decoding stays in Python).
"""
from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY

from .decode import decode_detections
from .network import TinyCenterNet
from .targets import centernet_loss

__all__ = ["DigitsDetector"]


@BUILD_MODEL_REGISTRY.register()
class DigitsDetector(BaseModel):
    def run_step(self, data, *, epoch=None, **kwargs):
        images = data["input_data"].to(self.device, non_blocking=True)
        boxes = [b.to(self.device) for b in data["bbox"]]
        labels = [lab.to(self.device) for lab in data["labels"]]
        return centernet_loss(self.g_model(images), boxes, labels, stride=TinyCenterNet.stride)

    def generator(self, data):
        outputs = self.g_model(data.to(self.device, non_blocking=True))
        return decode_detections(outputs, stride=TinyCenterNet.stride)
