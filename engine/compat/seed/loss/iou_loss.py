"""The seed's ``engine.loss.iou_loss``; the loss is the core's (engine/loss/iou.py)."""
from ....loss.iou import IOULoss

__all__ = ["IOULoss"]
