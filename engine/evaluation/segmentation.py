"""Semantic segmentation: mIoU, per-class IoU and pixel accuracy from one confusion
matrix over all validation pixels (summed over processes, so the numbers do not depend
on how the set is batched or sharded).

``model.generator(batch[input_key])`` gives N x C x H x W scores (the class is their
argmax over C) or N x H x W label maps; ``batch[target_key]`` holds N x H x W (or
N x 1 x H x W) label maps. Pixels whose target is ``ignore_index`` count nowhere.
"""
import os
from typing import Optional, Sequence

import numpy as np
import torch

from ..utils import comm
from ..utils.errors import ConfigError, EngineError
from .build import EVALUATOR_REGISTRY
from .confusion import all_reduce_matrix, count_confusion, draw_confusion_matrix
from .evaluator import DatasetEvaluator, SampleOutputs, batch_fields, class_names_for, describe
from .finite_outputs import NonFiniteOutputs, finite_rows

__all__ = ["SegmentationEvaluator", "iou_from_confusion"]


def iou_from_confusion(matrix: np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from both the ground
    truth and the predictions (0/0: no evidence either way), 0 for a class predicted but
    absent from the ground truth."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


@EVALUATOR_REGISTRY.register()
class SegmentationEvaluator(DatasetEvaluator):
    """``mIoU`` (the mean of the per-class IoUs that are defined: a class absent from both
    ground truth and predictions is left out), ``IoU_class_<name>`` per class (NaN when
    left out), ``pixel_acc`` (right pixels / counted pixels) and ``mAcc`` (the mean over
    classes present in the ground truth of the share of their pixels predicted right).
    Per-sample outputs: ``{'mask'}``, the predicted H x W label map (numpy). A score map
    holding NaN or inf makes every metric NaN (finite_outputs.py)."""

    def __init__(self, num_classes: int, input_key: str = "input_data", target_key: str = "target_data",
                 ignore_index: Optional[int] = 255, class_names: Optional[Sequence[str]] = None):
        if int(num_classes) < 1:
            raise ConfigError(f"trainer.evaluator (SegmentationEvaluator): num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.input_key, self.target_key = input_key, target_key
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.class_names = class_names_for(self.num_classes, class_names, "SegmentationEvaluator")
        self.reset()

    def reset(self):
        self._matrix = np.zeros((self.num_classes, self.num_classes), np.int64)
        self._last_matrix: Optional[np.ndarray] = None
        self._samples = SampleOutputs(self)
        self._nonfinite = NonFiniteOutputs("SegmentationEvaluator")

    def _labels(self, output, target: torch.Tensor) -> torch.Tensor:
        """The predicted label map, N x H x W, checked against the target's shape."""
        if not isinstance(output, torch.Tensor):
            raise EngineError(f"SegmentationEvaluator: model.generator(inputs) must return a tensor, "
                              f"got {describe(output)}")
        if output.dim() == 4:
            if output.shape[1] != self.num_classes:
                raise EngineError(f"SegmentationEvaluator: the model gives {output.shape[1]} class scores "
                                  f"per pixel (N x C x H x W = {list(output.shape)}), num_classes is "
                                  f"{self.num_classes}")
            self._nonfinite.add(finite_rows(output))
            output = output.argmax(dim=1)
        elif output.dim() != 3 or output.is_floating_point():
            raise EngineError(f"SegmentationEvaluator: model.generator(inputs) must give N x C x H x W "
                              f"scores or N x H x W integer labels, got {describe(output)}")
        if output.shape != target.shape:
            raise EngineError(f"SegmentationEvaluator: predictions {list(output.shape)} and targets "
                              f"'{self.target_key}' {list(target.shape)} differ in shape (N x H x W)")
        if output.numel() and (output.min() < 0 or output.max() >= self.num_classes):
            raise EngineError(f"SegmentationEvaluator: predicted labels must be in [0, {self.num_classes}), "
                              f"got {int(output.min())}..{int(output.max())}")
        return output

    def process(self, model, batch):
        inputs, target = batch_fields(batch, {"input_key": self.input_key, "target_key": self.target_key},
                                      "SegmentationEvaluator")
        output = model.generator(inputs)
        target = torch.as_tensor(target)
        if isinstance(output, torch.Tensor):
            target = target.to(output.device)
        if target.dim() == 4 and target.shape[1] == 1:
            target = target[:, 0]
        labels = self._labels(output, target)
        counted = target if self.ignore_index is None else target[target != self.ignore_index]
        if counted.numel() and (counted.min() < 0 or counted.max() >= self.num_classes):
            raise EngineError(f"SegmentationEvaluator: target labels in '{self.target_key}' must be in "
                              f"[0, {self.num_classes}) or ignore_index={self.ignore_index}, got "
                              f"{int(counted.min())}..{int(counted.max())}")
        self._matrix += count_confusion(labels, target, self.num_classes, self.ignore_index).cpu().numpy()
        dtype = np.uint8 if self.num_classes <= 256 else np.int32
        self._samples.extend({"mask": m.astype(dtype)} for m in labels.cpu().numpy())

    def evaluate(self):
        matrix = self._last_matrix = all_reduce_matrix(self._matrix)
        self._samples.gather()
        iou = iou_from_confusion(matrix)
        support = matrix.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            class_acc = np.where(support > 0, np.diag(matrix) / support, np.nan)
        defined = ~np.isnan(iou)
        results = {
            "mIoU": float(iou[defined].mean()) if defined.any() else float("nan"),
            "pixel_acc": float(np.trace(matrix) / matrix.sum()) if matrix.sum() else float("nan"),
            "mAcc": float(np.nanmean(class_acc)) if (support > 0).any() else float("nan"),
        }
        results.update({f"IoU_class_{name}": float(v) for name, v in zip(self.class_names, iou)})
        if self.output_dir and comm.is_main_process():
            draw_confusion_matrix(matrix, self.class_names, os.path.join(self.output_dir, "confusion_matrix.png"))
        return self._nonfinite.apply(results)

    def confusion_matrix(self) -> np.ndarray:
        """The last evaluation's pixel confusion matrix over all processes (rows: ground truth)."""
        if self._last_matrix is None:
            raise EngineError("SegmentationEvaluator.confusion_matrix(): call evaluate() first")
        return self._last_matrix

    def predictions(self):
        return self._samples.result()
