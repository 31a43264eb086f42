"""Digit scenes composed from scikit-learn's digits, with masks and boxes (no download)."""
from .dataset import DigitScenesDataset
from .scenes import NUM_CLASSES, make_scene

__all__ = ["DigitScenesDataset", "NUM_CLASSES", "make_scene"]
