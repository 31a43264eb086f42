"""The segmentation example's bundle: per-pixel losses from the config on the class map.

``generator`` returns logits N x C x H x W; the SegmentationEvaluator takes their argmax.
"""
from engine.loss.pipe import LossKeyCompose
from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY

__all__ = ["DigitsSegmenter"]


@BUILD_MODEL_REGISTRY.register()
class DigitsSegmenter(BaseModel):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.loss = LossKeyCompose(cfg.TRAINER.LOSS)

    def run_step(self, data, *, epoch=None, **kwargs):
        images = data["input_data"].to(self.device, non_blocking=True)
        masks = data["target_data"].to(self.device, non_blocking=True)
        return self.loss((self.g_model(images), masks))

    def generator(self, data):
        return self.g_model(data.to(self.device, non_blocking=True))

    def postprocess(self, outputs):
        """Logits -> class maps (N x H x W int64)."""
        return outputs.argmax(dim=1)
