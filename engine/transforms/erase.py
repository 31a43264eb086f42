"""Occlusion: Cutout and RandomErasing paint rectangles over the image fields.

Nothing moves, so boxes and points are untouched. Masks are left alone unless a
``mask_fill`` is given (e.g. your ignore index, to keep erased pixels out of a
segmentation loss). Fills follow the per-field ``pad_value`` rule of
:mod:`engine.transforms.fields` when ``fill`` is a ``{field: value}`` dict.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from .base import BaseTransform, as_rng, check_prob, check_range
from .build import TRANSFORM_REGISTRY
from .fields import geometric_keys, image_shape

__all__ = ["Cutout", "RandomErasing", "erase_results"]


def erase_results(results: dict, rects, fill=0, mask_fill=None) -> dict:
    """Fill each ``(top, left, height, width)`` of ``rects`` in the image fields with
    ``fill`` (and in the masks with ``mask_fill`` unless it is None), in place."""
    for key, is_mask in geometric_keys(results):
        value = mask_fill if is_mask else fill
        if isinstance(value, dict):
            value = value.get(key)
        if value is None:
            continue
        # a copy: the array may be the dataset's own (cached) image
        arr = results[key] = np.array(results[key], copy=True)
        for top, left, h, w in rects:
            arr[top:top + h, left:left + w] = value
    return results


def _positive_int(owner, name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


@TRANSFORM_REGISTRY.register()
class Cutout(BaseTransform):
    """With probability ``p``, paint ``num_holes`` rectangles of up to
    ``max_h_size x max_w_size`` pixels (uniform sizes and positions, clipped to the
    image) with ``fill``."""

    def __init__(self, num_holes=1, max_h_size=8, max_w_size=8, fill=0, mask_fill=None, p=0.5):
        name = type(self).__name__
        self.num_holes = _positive_int(name, "num_holes", num_holes)
        self.max_h_size = _positive_int(name, "max_h_size", max_h_size)
        self.max_w_size = _positive_int(name, "max_w_size", max_w_size)
        self.fill, self.mask_fill, self.p = fill, mask_fill, check_prob(name, "p", p)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        h, w = image_shape(results)
        rects = []
        for _ in range(self.num_holes):
            hh = int(rng.integers(1, min(self.max_h_size, h) + 1))
            ww = int(rng.integers(1, min(self.max_w_size, w) + 1))
            rects.append((int(rng.integers(0, h - hh + 1)), int(rng.integers(0, w - ww + 1)), hh, ww))
        results["erased"] = rects
        return erase_results(results, rects, self.fill, self.mask_fill)


@TRANSFORM_REGISTRY.register()
class RandomErasing(BaseTransform):
    """torchvision's RandomErasing: with probability ``p``, one rectangle covering a
    fraction of the area drawn from ``scale``, aspect ratio (h/w) log-uniform in
    ``ratio``, filled with ``value`` (a number, one per channel, or ``'random'`` for
    uniform noise in the image's range). Gives up after 10 draws that do not fit."""

    def __init__(self, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, mask_fill=None, p=0.5):
        name = type(self).__name__
        self._scale = check_range(name, "scale", scale, low=0.0, high=1.0)
        self._ratio = check_range(name, "ratio", ratio, low=1e-6)
        if isinstance(value, str) and value != "random":
            raise ConfigError(f"{name}: value must be a number, a list or 'random', got {value!r}")
        self.scale, self.ratio, self.value, self.mask_fill = scale, ratio, value, mask_fill
        self.p = check_prob(name, "p", p)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        h, w = image_shape(results)
        for _ in range(10):
            area = h * w * rng.uniform(*self._scale)
            aspect = float(np.exp(rng.uniform(*np.log(self._ratio))))
            eh, ew = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
            if 0 < eh < h and 0 < ew < w:
                rect = (int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1)), eh, ew)
                break
        else:
            return results
        value = self.value
        if value == "random":
            value = None
            for key, is_mask in geometric_keys(results):
                if not is_mask:
                    arr = results[key]
                    hi = 256 if arr.dtype == np.uint8 else 1.0
                    shape = (eh, ew) + arr.shape[2:]
                    noise = rng.integers(0, 256, shape) if hi == 256 else rng.random(shape)
                    results[key] = arr = arr.copy()
                    arr[rect[0]:rect[0] + eh, rect[1]:rect[1] + ew] = noise
        results["erased"] = [rect]
        return erase_results(results, [rect], value, self.mask_fill)
