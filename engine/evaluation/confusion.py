"""Confusion matrices: counted on the device of the predictions, summed over processes,
drawn as a PNG with OpenCV.

Rows are the ground truth, columns the prediction (as ``sklearn.metrics.confusion_matrix``):
``matrix[i, j]`` counts samples (or pixels) of class ``i`` predicted as ``j``.
"""
import os
from typing import Optional, Sequence

import cv2
import numpy as np
import torch

from ..utils import comm

__all__ = ["count_confusion", "all_reduce_matrix", "draw_confusion_matrix"]


def count_confusion(predicted: torch.Tensor, target: torch.Tensor, num_classes: int,
                    ignore_index: Optional[int] = None) -> torch.Tensor:
    """The ``num_classes x num_classes`` int64 counts of (target, predicted) pairs; entries
    whose target is ``ignore_index`` are left out. Labels must be in ``[0, num_classes)``."""
    predicted, target = predicted.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        predicted, target = predicted[keep], target[keep]
    flat = torch.bincount(target * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)


def all_reduce_matrix(matrix: np.ndarray) -> np.ndarray:
    """The element-wise sum of ``matrix`` over processes (one all_reduce, exact below 2**53)."""
    summed = comm.all_reduce_sum(matrix.reshape(-1).tolist())
    return np.asarray(summed, dtype=np.float64).reshape(matrix.shape).round().astype(np.int64)


def draw_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path: str) -> str:
    """Write ``matrix`` as a PNG heat map at ``path``: each row scaled by its total (a
    row's colours read as "of the samples of this class, how many went where"), the
    counts written in the cells when they fit. Returns ``path``."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = len(matrix)
    cell = int(np.clip(720 // max(n, 1), 14, 56))
    label_w = 12 + 8 * max((len(s) for s in names), default=1)
    top = 40
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    heat = cv2.applyColorMap((rows * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    heat = cv2.resize(heat, (n * cell, n * cell), interpolation=cv2.INTER_NEAREST)
    canvas = np.full((top + n * cell + label_w, max(label_w + n * cell, 340), 3), 255, np.uint8)
    canvas[top:top + n * cell, label_w:label_w + n * cell] = heat
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.35
    cv2.putText(canvas, "rows: ground truth, columns: prediction", (4, 16), font, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    for i, name in enumerate(names):
        y = top + i * cell + cell // 2 + 4
        cv2.putText(canvas, name, (4, y), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
        # column labels, written sideways below the matrix
        text = np.full((12, label_w, 3), 255, np.uint8)
        cv2.putText(text, name, (2, 9), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
        text = cv2.rotate(text, cv2.ROTATE_90_CLOCKWISE)
        x = label_w + i * cell + (cell - 12) // 2
        canvas[top + n * cell:top + n * cell + label_w, x:x + 12] = text
    if cell >= 28:
        for i in range(n):
            for j in range(n):
                colour = (0, 0, 0) if rows[i, j] > 0.6 else (255, 255, 255)
                cv2.putText(canvas, str(int(matrix[i, j])), (label_w + j * cell + 3, top + i * cell + cell // 2 + 4),
                            font, scale, colour, 1, cv2.LINE_AA)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, canvas):
        raise OSError(f"could not write {path}")
    return path
