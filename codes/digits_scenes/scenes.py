"""Scenes composed from scikit-learn's real digit images: masks and boxes without a download.

A scene is a textured background with one to ``max_digits`` digits pasted at random
positions and scales, each in its own colour. Every digit is known exactly, so the scene
comes with a per-pixel class mask (0 = background, 1 + digit for the digits 0-9) and one
tight box per digit, which is what the segmentation and detection examples train on.

A scene is a pure function of (seed, split, index): the same on every machine and in
every worker, and cheap enough (~0.1 ms) to build on the fly instead of caching.
Digits do not overlap, so each box is exactly the extent of its digit's mask pixels.
"""
from functools import lru_cache
from typing import Dict, Tuple

import cv2
import numpy as np

from ..digits.dataset import load_digits_split

__all__ = ["NUM_CLASSES", "make_scene", "digit_images"]

#: background + the ten digits
NUM_CLASSES = 11
_SPLIT_ID = {"train": 0, "val": 1}
_INK = 0.35  # fraction of full intensity above which a pixel belongs to the digit


@lru_cache(maxsize=4)
def digit_images(split: str) -> Tuple[np.ndarray, np.ndarray]:
    """(images float32 N x 8 x 8 in [0, 1], labels N) of one split of the digits."""
    images, labels = load_digits_split(split)
    return images.astype(np.float32) / 255.0, labels


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour blobs plus grain: texture the network must learn to ignore."""
    coarse = rng.uniform(0, 110, size=(4, 4, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 8, size=(size, size, 3)).astype(np.float32)
    return np.clip(smooth + grain, 0, 255)


def make_scene(index: int, split: str = "train", size: int = 64, max_digits: int = 3,
               min_scale: int = 14, max_scale: int = 28, seed: int = 0) -> Dict[str, np.ndarray]:
    """One scene: ``img`` (size x size x 3 uint8 RGB), ``mask`` (size x size uint8 class
    map), ``bbox`` (N x 4 float32 x1, y1, x2, y2 in pixels), ``labels`` (N int64 digits)."""
    if split not in _SPLIT_ID:
        raise ValueError(f"make_scene: split must be 'train' or 'val', got {split!r}")
    if not 0 < min_scale <= max_scale < size:
        raise ValueError(f"make_scene: need 0 < min_scale <= max_scale < size, got "
                         f"{min_scale}, {max_scale}, {size}")
    rng = np.random.default_rng([seed, _SPLIT_ID[split], index])
    images, labels = digit_images(split)
    img = _background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    boxes, classes = [], []
    for _ in range(int(rng.integers(1, max_digits + 1))):
        pick = int(rng.integers(len(labels)))
        scale = int(rng.integers(min_scale, max_scale + 1))
        ink = cv2.resize(images[pick], (scale, scale), interpolation=cv2.INTER_LINEAR)
        for _attempt in range(20):  # a free spot; a crowded scene just gets fewer digits
            x, y = (int(v) for v in rng.integers(0, size - scale + 1, size=2))
            if not mask[max(0, y - 1):y + scale + 1, max(0, x - 1):x + scale + 1].any():
                break
        else:
            continue
        on = ink > _INK
        if not on.any():
            continue
        colour = rng.uniform(150, 255, size=3).astype(np.float32)
        region = img[y:y + scale, x:x + scale]
        alpha = np.clip(ink / 0.7, 0, 1)[..., None]
        region[:] = region * (1 - alpha) + colour * alpha
        mask[y:y + scale, x:x + scale][on] = labels[pick] + 1
        rows, cols = np.nonzero(on)
        boxes.append([x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1])
        classes.append(int(labels[pick]))
    return {
        "img": img.astype(np.uint8),
        "mask": mask,
        "bbox": np.asarray(boxes, np.float32).reshape(-1, 4),
        "labels": np.asarray(classes, np.int64),
    }
