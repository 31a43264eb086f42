"""The detection example: digit scenes -> one box and class per digit (doc/examples.md)."""
from .export import CenterNetHeadsExport
from .model import DigitsDetector
from .network import TinyCenterNet

__all__ = ["CenterNetHeadsExport", "DigitsDetector", "TinyCenterNet"]
