"""Transforms that change where pixels are: flips and resizing.

Each moves every image-like field, mask, box and point together (see
:mod:`engine.transforms.fields`) and updates ``img_shape``. Masks are always resampled
with nearest neighbour, whatever interpolation the images use, so no label is invented.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from . import functional as F
from .base import BaseTransform, as_rng, check_choice, check_prob, check_size
from .build import TRANSFORM_REGISTRY
from .fields import clip_bboxes, clip_points, image_shape, map_bboxes, map_images, map_points

__all__ = ["RandomFlip", "Resize", "flip_results"]

DIRECTIONS = ("horizontal", "vertical", "diagonal")
_IMAGE_FLIPS = {
    "horizontal": F.hflip,
    "vertical": F.vflip,
    "diagonal": lambda img: F.vflip(F.hflip(img)),
}


def flip_results(results: dict, direction: str) -> dict:
    """Flip every field of ``results`` in ``direction`` (no randomness)."""
    shape = image_shape(results)
    map_images(results, _IMAGE_FLIPS[direction])
    map_bboxes(results, lambda b: F.flip_bboxes(b, shape, direction))
    map_points(results, lambda p: F.flip_points(p, shape, direction))
    results["img_shape"] = shape
    return results


@TRANSFORM_REGISTRY.register()
class RandomFlip(BaseTransform):
    """With probability ``p``, flip in one direction drawn uniformly from ``direction``.

    ``diagonal`` flips both axes. Records ``flip`` (bool) and ``flip_direction`` (the
    direction, or None) so a test-time pipeline can undo it.
    """

    def __init__(self, direction=DIRECTIONS, p: float = 0.5):
        name = type(self).__name__
        directions = [direction] if isinstance(direction, str) else list(direction or [])
        if not directions:
            raise ConfigError(f"{name}: direction must name at least one of {list(DIRECTIONS)}")
        for d in directions:
            check_choice(name, "direction", d, DIRECTIONS)
        self.direction = direction if isinstance(direction, str) else directions
        self._directions = directions
        self.p = check_prob(name, "p", p)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        results["flip"], results["flip_direction"] = False, None
        if rng.random() < self.p:
            direction = self._directions[int(rng.integers(len(self._directions)))]
            flip_results(results, direction)
            results["flip"], results["flip_direction"] = True, direction
        return results


@TRANSFORM_REGISTRY.register()
class Resize(BaseTransform):
    """Resize to ``target_size`` (an int, or ``[height, width]``).

    - ``keep_ratio=False``: exactly ``target_size`` (an int means a square).
    - ``keep_ratio=True``: scale by one factor so the image fits inside ``target_size``;
      an int is the length of the long side.

    Boxes and points are scaled with the image; with ``clip_border`` they are clipped to
    it. Records ``scale_factor = [sx, sy, sx, sy]`` (float32, multiply boxes by it) and
    ``keep_ratio``.
    """

    def __init__(
        self,
        target_size,
        interpolation: str = "INTER_LINEAR",
        keep_ratio: bool = False,
        clip_border: bool = True,
    ):
        name = type(self).__name__
        self._size = check_size(name, "target_size", target_size)
        try:
            self._flag = F.interpolation_flag(interpolation)
        except ValueError as e:
            raise ConfigError(f"{name}: interpolation: {e}") from None
        self._long_side = isinstance(target_size, numbers.Integral)
        self.target_size = target_size
        self.interpolation = interpolation
        self.keep_ratio = bool(keep_ratio)
        self.clip_border = bool(clip_border)

    def output_shape(self, shape) -> tuple:
        """``(height, width)`` this transform gives an image of ``shape = (h, w)``."""
        h, w = shape[:2]
        if not self.keep_ratio:
            return self._size
        if self._long_side:
            scale = self._size[0] / max(h, w)
        else:
            scale = min(self._size[0] / h, self._size[1] / w)
        return max(1, int(round(h * scale))), max(1, int(round(w * scale)))

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        h, w = image_shape(results)
        nh, nw = self.output_shape((h, w))
        sx, sy = nw / w, nh / h
        map_images(
            results,
            lambda img: F.resize(img, (nh, nw), self._flag),
            lambda mask: F.resize_mask(mask, (nh, nw)),
        )
        results["img_shape"] = (nh, nw)

        def scale_boxes(b):
            b[:, 0:4] *= np.array([sx, sy, sx, sy], dtype=np.float32)
            return clip_bboxes(b, (nh, nw)) if self.clip_border else b

        def scale_points(p):
            p[:, 0:2] *= np.array([sx, sy], dtype=np.float32)
            return clip_points(p, (nh, nw)) if self.clip_border else p

        map_bboxes(results, scale_boxes)
        map_points(results, scale_points)
        results["scale_factor"] = np.array([sx, sy, sx, sy], dtype=np.float32)
        results["keep_ratio"] = self.keep_ratio
        return results
