"""Built-in model bundles for the common tasks, so that a config alone trains a network
by name (``torchvision.resnet18``) on a dataset for a common format:

- :class:`ClassificationModel`: cross-entropy on the logits; ``ClassificationEvaluator``;
- :class:`SegmentationModel`: per-pixel cross-entropy over torchvision's segmentation
  models (their ``'out'``, plus ``'aux'``); ``SegmentationEvaluator``;
- :class:`DetectionModel`: torchvision's detection models, which compute their own
  losses; boxes, scores and labels as ``DetectionEvaluator`` reads them.

Each reads the batch keys the built-in datasets give (``input_data``, ``target_data``;
``bbox``, ``labels``) and defines ``postprocess(outputs)``: one dict per sample, in the
format of the matching evaluator's per-sample predictions (doc/model.md).
"""
from .classification import ClassificationModel
from .detection import DetectionModel
from .segmentation import SegmentationModel

__all__ = ["ClassificationModel", "SegmentationModel", "DetectionModel"]
