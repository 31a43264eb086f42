"""Object detection: COCO-style box AP, computed by pycocotools' ``COCOeval``.

Box format, for ground truth and predictions alike: ``x1, y1, x2, y2`` in pixels of the
network's input (after the validation pipeline), ``x2 - x1`` the width (COCO's own
``[x, y, w, h]`` is made from it). Labels are class indices in ``[0, num_classes)``.

- The batch: ``batch[input_key]`` goes to ``model.generator``; ``batch[boxes_key]`` and
  ``batch[labels_key]`` are lists with one entry per image (M x 4 boxes, M labels; M
  varies, M = 0 for an image without objects), as a detection collate leaves them;
  columns after the first 4 of the boxes (a class id) are ignored.
- The model: ``model.generator(inputs)`` returns one dict per image with ``boxes``
  (K x 4), ``scores`` (K) and ``labels`` (K), tensors or arrays, already decoded and
  filtered (NMS); ``max_detections`` of the highest scores per image are kept, as COCO.

Every image of every process is gathered on every process and COCOeval runs on each, so
all ranks report the same numbers. COCO's conventions hold: a class with no ground truth
has no AP (COCO's -1, reported here as NaN) and is left out of the means; predictions on
an image without ground truth are false positives; no predictions at all give AP 0.
"""
import contextlib
import io
import logging
from typing import Optional, Sequence

import numpy as np
import torch

from ..utils.errors import ConfigError, EngineError
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator, SampleOutputs, batch_fields, class_names_for, describe, gather_samples
from .finite_outputs import NonFiniteOutputs, finite_rows

__all__ = ["DetectionEvaluator", "coco_evaluate"]

logger = logging.getLogger(__name__)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def coco_evaluate(images, num_classes: int, max_detections: int = 100):
    """Run COCOeval on ``images``: a list of ``(gt, pred)`` per image, each a dict of
    numpy arrays (gt: boxes, labels; pred: boxes, scores, labels; boxes x1, y1, x2, y2).
    Returns the finished ``COCOeval`` (``stats``, ``eval['precision']``)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    categories = [{"id": c, "name": str(c)} for c in range(num_classes)]
    image_entries = [{"id": i} for i in range(len(images))]
    gts, dts = [], []
    for image_id, (gt, pred) in enumerate(images):
        boxes = _xywh(gt["boxes"])
        for box, label in zip(boxes.tolist(), gt["labels"].tolist()):
            gts.append({"id": len(gts) + 1, "image_id": image_id, "category_id": int(label),
                        "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        boxes = _xywh(pred["boxes"])
        for box, score, label in zip(boxes.tolist(), pred["scores"].tolist(), pred["labels"].tolist()):
            dts.append({"id": len(dts) + 1, "image_id": image_id, "category_id": int(label),
                        "bbox": box, "area": box[2] * box[3], "score": float(score), "iscrowd": 0})
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset = {"images": image_entries, "categories": categories, "annotations": gts}
        # what COCO.loadRes builds, made directly: loadRes refuses an empty list
        coco_dt.dataset = {"images": image_entries, "categories": categories, "annotations": dts}
        coco_gt.createIndex()
        coco_dt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_dt, iouType="bbox")
        coco_eval.params.maxDets = [1, 10, int(max_detections)]
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    logger.debug("COCOeval:\n%s", printed.getvalue())
    return coco_eval


def _defined(value: float) -> float:
    """COCO writes -1 for "no ground truth to measure against": NaN here."""
    return float("nan") if value < 0 else float(value)


def _first_columns(boxes):
    """Ground-truth boxes may carry extra columns (a class id, as the transforms allow)."""
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    boxes = np.asarray(boxes)
    return boxes[:, :4] if boxes.ndim == 2 and boxes.shape[1] > 4 else boxes


def _as_array(value, dtype, shape_tail, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=dtype)
    if array.size == 0:
        array = array.reshape((0,) + shape_tail)
    if array.shape[1:] != shape_tail or array.ndim != 1 + len(shape_tail):
        raise EngineError(f"DetectionEvaluator: {what} must be {'K x 4' if shape_tail else 'K'} "
                          f"per image, got shape {list(array.shape)}")
    return array


@EVALUATOR_REGISTRY.register()
class DetectionEvaluator(DatasetEvaluator):
    """``mAP`` (AP averaged over IoU 0.50:0.05:0.95 and over classes), ``mAP_50``,
    ``mAP_75``, and ``AP_class_<name>`` per class (over IoU 0.50:0.95; NaN for a class
    without ground truth). Per-sample outputs: ``{'boxes', 'scores', 'labels'}``, the
    image's predictions as numpy arrays (boxes x1, y1, x2, y2). A predicted box or score
    holding NaN or inf makes every metric NaN (finite_outputs.py); such an image is left
    out of COCOeval, which would match a NaN box as if it were one."""

    def __init__(self, num_classes: int, input_key: str = "input_data", boxes_key: str = "bbox",
                 labels_key: str = "labels", class_names: Optional[Sequence[str]] = None,
                 max_detections: int = 100):
        if int(num_classes) < 1:
            raise ConfigError(f"trainer.evaluator (DetectionEvaluator): num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.keys = {"input_key": input_key, "boxes_key": boxes_key, "labels_key": labels_key}
        self.class_names = class_names_for(self.num_classes, class_names, "DetectionEvaluator")
        self.max_detections = int(max_detections)
        self.reset()

    def reset(self):
        self._images = []  # (gt, pred) per image of this process
        self._samples = SampleOutputs(self)
        self._nonfinite = NonFiniteOutputs("DetectionEvaluator")

    def _checked_labels(self, labels: np.ndarray, what: str) -> np.ndarray:
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise EngineError(f"DetectionEvaluator: {what} labels must be in [0, {self.num_classes}) "
                              f"(num_classes), got {labels.min()}..{labels.max()}")
        return labels

    def process(self, model, batch):
        inputs, boxes, labels = batch_fields(batch, self.keys, "DetectionEvaluator")
        outputs = model.generator(inputs)
        if not isinstance(outputs, (list, tuple)) or not all(isinstance(o, dict) for o in outputs):
            raise EngineError("DetectionEvaluator: model.generator(inputs) must return a list with one "
                              "dict(boxes=K x 4, scores=K, labels=K) per image, got "
                              f"{describe(outputs)}")
        if not (len(outputs) == len(boxes) == len(labels)):
            raise EngineError(f"DetectionEvaluator: {len(outputs)} predictions, {len(boxes)} entries in "
                              f"'{self.keys['boxes_key']}' and {len(labels)} in '{self.keys['labels_key']}' "
                              f"for one batch: each needs one per image")
        for output, gt_boxes, gt_labels in zip(outputs, boxes, labels):
            missing = sorted({"boxes", "scores", "labels"} - set(output))
            if missing:
                raise EngineError(f"DetectionEvaluator: a prediction lacks {missing}; it has {sorted(output)}")
            gt = {"boxes": _as_array(_first_columns(gt_boxes), np.float64, (4,), f"'{self.keys['boxes_key']}'"),
                  "labels": _as_array(gt_labels, np.int64, (), f"'{self.keys['labels_key']}'")}
            pred = {"boxes": _as_array(output["boxes"], np.float64, (4,), "predicted boxes"),
                    "scores": _as_array(output["scores"], np.float64, (), "predicted scores"),
                    "labels": _as_array(output["labels"], np.int64, (), "predicted labels")}
            lengths_fit = len(pred["boxes"]) == len(pred["scores"]) == len(pred["labels"])
            if len(gt["boxes"]) != len(gt["labels"]) or not lengths_fit:
                raise EngineError("DetectionEvaluator: boxes, scores and labels of one image differ in length "
                                  f"(ground truth {len(gt['boxes'])}/{len(gt['labels'])}, prediction "
                                  f"{len(pred['boxes'])}/{len(pred['scores'])}/{len(pred['labels'])})")
            self._checked_labels(gt["labels"], "ground-truth")
            self._checked_labels(pred["labels"], "predicted")
            finite = self._nonfinite.add([finite_rows(pred["boxes"]).all() and finite_rows(pred["scores"]).all()])
            self._images.append((gt, pred, bool(finite[0])))

    def evaluate(self):
        images = gather_samples(self._images)
        self._samples.adopt(pred for _, pred, _ in images)
        images = [(gt, pred) for gt, pred, finite in images if finite]
        if not images:
            return self._nonfinite.apply({"mAP": float("nan"), "mAP_50": float("nan"), "mAP_75": float("nan"),
                                          **{f"AP_class_{n}": float("nan") for n in self.class_names}})
        coco_eval = coco_evaluate(images, self.num_classes, self.max_detections)
        results = {"mAP": _defined(coco_eval.stats[0]), "mAP_50": _defined(coco_eval.stats[1]),
                   "mAP_75": _defined(coco_eval.stats[2])}
        # precision: IoU thresholds x recall points x classes x area ranges x max detections
        precision = coco_eval.eval["precision"][:, :, :, 0, -1]
        for k, name in enumerate(self.class_names):
            p = precision[:, :, k]
            results[f"AP_class_{name}"] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
        return self._nonfinite.apply(results)

    def predictions(self):
        return self._samples.result()
