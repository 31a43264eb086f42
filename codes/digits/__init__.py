"""Handwritten digit classification on scikit-learn's bundled 8x8 digits (real data,
no download): the engine's main example and the README's main job."""
from .dataset import DigitsDataset
from .model import DigitsClassifier
from .network import DigitsNet

__all__ = ["DigitsDataset", "DigitsNet", "DigitsClassifier"]
