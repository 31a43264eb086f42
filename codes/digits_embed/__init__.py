"""The feature-learning example: CosFace embeddings of digits 0-6, open-set retrieval of
the unseen digits 7-9 (doc/examples.md)."""
from .export import EmbeddingExport
from .model import DigitsEmbedder
from .network import MarginNetwork

__all__ = ["DigitsEmbedder", "EmbeddingExport", "MarginNetwork"]
