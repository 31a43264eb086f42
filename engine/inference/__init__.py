"""Inference on a trained model: :class:`Predictor` (doc/export.md#predictor)."""
from .loading import load_trained_model
from .predictor import Predictor

__all__ = ["Predictor", "load_trained_model"]
