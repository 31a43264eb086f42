"""The model bundle of the digits example: cross-entropy through the config's losses."""
from engine.loss.pipe import LossKeyCompose
from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY

__all__ = ["DigitsClassifier"]


@BUILD_MODEL_REGISTRY.register()
class DigitsClassifier(BaseModel):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.loss = LossKeyCompose(cfg.TRAINER.LOSS)

    def run_step(self, data, *, epoch=None, **kwargs):
        images = data["input_data"].to(self.device, non_blocking=True)
        labels = data["target_data"].to(self.device, non_blocking=True)
        return self.loss((self.g_model(images), labels))

    def generator(self, data):
        return self.g_model(data.to(self.device, non_blocking=True))
