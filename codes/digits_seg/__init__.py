"""The segmentation example: digit scenes -> per-pixel classes (doc/examples.md)."""
from .model import DigitsSegmenter
from .network import TinyUNet

__all__ = ["DigitsSegmenter", "TinyUNet"]
