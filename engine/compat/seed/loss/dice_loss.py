"""The seed's ``engine.loss.dice_loss``; the losses are the core's (engine/loss/dice.py)."""
from ....loss.dice import BinaryDiceLoss, GeneralizedDiceLoss

__all__ = ["BinaryDiceLoss", "GeneralizedDiceLoss"]
