"""The detection example: digit scenes -> one box and class per digit (doc/examples.md)."""
from .model import DigitsDetector
from .network import TinyCenterNet

__all__ = ["DigitsDetector", "TinyCenterNet"]
