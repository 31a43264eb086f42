"""The seed's ``engine.loss.ssim_loss``; the loss is the core's (engine/loss/ssim.py)."""
from ....loss.ssim import SSIMLoss

__all__ = ["SSIMLoss"]
