"""``engine-test --show-dir``: one PNG per evaluated sample with its prediction drawn.

The picture is the sample's first image tensor as the validation loader yields it
(normalised images stretched for display, small ones enlarged to ``min_size``), with what
the evaluator kept for it (doc/evaluation.md): a predicted mask overlaid in colour,
boxes with their labels and scores (those scored below ``score_thr`` are left out of the
picture, not of ``--out``: a detector's evaluation keeps boxes down to a low score for
COCO mAP, which would bury the picture), and a caption with the predicted label and score
(and the target, when the evaluator kept it).
"""
import os
from typing import Dict, List, Sequence

import numpy as np
import torch

from ..utils import visualize as V
from ..utils.errors import EngineError
from .browse_dataset import display_image

__all__ = ["show_predictions", "draw_prediction", "check_score_thr"]


def _sample_image(sample) -> np.ndarray:
    values = sample.values() if isinstance(sample, dict) else (sample if isinstance(sample, (list, tuple)) else [sample])
    for v in values:
        if isinstance(v, (torch.Tensor, np.ndarray)) and np.ndim(v) >= 2:
            return display_image(v)
    raise EngineError("--show-dir: the dataset's samples hold no image to draw on")


def draw_prediction(img: np.ndarray, prediction: Dict, caption: str = "", min_size: int = 128,
                    score_thr: float = 0.0) -> np.ndarray:
    h, w = img.shape[:2]
    f = max(1, int(np.ceil(min_size / max(1, min(h, w)))))
    img = np.ascontiguousarray(img.repeat(f, axis=0).repeat(f, axis=1))
    if "mask" in prediction:
        mask = np.asarray(prediction["mask"])
        if mask.shape[:2] == (h, w):
            img = V.overlay_mask(img, mask.repeat(f, axis=0).repeat(f, axis=1), alpha=0.45)
    if "boxes" in prediction:
        boxes = np.asarray(prediction["boxes"], np.float32).reshape(-1, 4)
        labels, scores = prediction.get("labels"), prediction.get("scores")
        if scores is not None and score_thr > 0:
            keep = np.asarray(scores, np.float32).reshape(-1) >= score_thr
            boxes, scores = boxes[keep], np.asarray(scores)[keep]
            labels = None if labels is None else np.asarray(labels)[keep]
        img = V.draw_boxes(img, boxes * f, labels=labels, scores=scores)
    parts = [caption] if caption else []
    if "label" in prediction:
        parts.append(f"pred {prediction['label']}")
        if "score" in prediction:
            parts.append(f"({float(prediction['score']):.2f})")
    if "target" in prediction:
        parts.append(f"gt {prediction['target']}")
    return V.put_label(img, " ".join(parts)) if parts else img


def check_score_thr(score_thr: float) -> None:
    if not 0.0 <= score_thr <= 1.0:
        raise EngineError(f"--show-score-thr {score_thr:g}: expected a score between 0 and 1")


def show_predictions(dataset, predictions: Sequence[Dict], show_dir: str, score_thr: float = 0.0) -> List[str]:
    """Write ``show_dir/000000.png``... for every sample; returns the paths."""
    check_score_thr(score_thr)
    if len(predictions) != len(dataset):
        raise EngineError(f"--show-dir: {len(predictions)} predictions for {len(dataset)} samples")
    paths = []
    for i, prediction in enumerate(predictions):
        img = draw_prediction(_sample_image(dataset[i]), prediction, f"#{i}", score_thr=score_thr)
        paths.append(V.save_png(os.path.join(show_dir, f"{i:06d}.png"), img))
    return paths
