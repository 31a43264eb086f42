"""The seed's ``engine.loss.ce_loss``; the loss is the core's (engine/loss/cross_entropy.py)."""
from ....loss.cross_entropy import GeneralizedCELoss

__all__ = ["GeneralizedCELoss"]
