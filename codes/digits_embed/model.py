"""The feature-learning example's bundle: digits 0-6 train an embedding through a
CosFace head; evaluation retrieves the digits 7-9 it never saw (``RetrievalEvaluator``).

``create_model`` builds the configured backbone (``trainer.model.generator``) and wraps
it with the configured margin loss (``trainer.model.loss``) in one trained network
(:class:`.network.MarginNetwork`); ``generator`` returns normalised embeddings.
"""
from engine.loss.pipe import LossKeyCompose
from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY, build_network

from .network import MarginNetwork

__all__ = ["DigitsEmbedder"]


@BUILD_MODEL_REGISTRY.register()
class DigitsEmbedder(BaseModel):
    def create_model(self, params):
        backbone = build_network(params, "trainer.model.generator")
        return MarginNetwork(backbone, LossKeyCompose(self.cfg.TRAINER.LOSS))

    def run_step(self, data, *, epoch=None, **kwargs):
        images = data["input_data"].to(self.device, non_blocking=True)
        labels = data["target_data"].to(self.device, non_blocking=True)
        return self.g_model(images, labels)

    def generator(self, data):
        return self.g_model(data.to(self.device, non_blocking=True))
