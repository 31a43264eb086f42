"""The seed's ``engine.loss.vgg_loss``; both are the core's (engine/loss/perceptual.py)."""
from ....loss.perceptual import VGG, VggLoss

__all__ = ["VggLoss", "VGG"]
