"""The seed's ``engine.loss.ohemce_loss``; the loss is the core's (engine/loss/ohem.py)."""
from ....loss.ohem import OnlineHardExampleMiningCELoss

__all__ = ["OnlineHardExampleMiningCELoss"]
