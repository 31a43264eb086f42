"""The seed's ``engine.loss.function.ssim``; the module is the core's (engine/loss/ssim.py)."""
from ....loss.ssim import SSIM

__all__ = ["SSIM"]
