"""Transforms that change where pixels are by flipping, resizing and padding.

Each moves every image-like field, mask, box and point together (see
:mod:`engine.transforms.fields`) and updates ``img_shape``. Masks are always resampled
with nearest neighbour, whatever interpolation the images use, so no label is invented.
The seed's per-field ``pad_value`` / ``interpolation`` dicts are honoured, resizes and
pads record ``scale`` / ``pad_offset``, and boxes pushed out of the image are removed
together with their ``bbox_label_fields`` rows.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from . import functional as F
from . import functional_spatial as S
from .base import BaseTransform, as_rng, check_choice, check_prob, check_size
from .build import TRANSFORM_REGISTRY
from .field_roles import interpolation_arg, take_interpolation
from .fields import (
    clip_points,
    fill_value,
    geometric_keys,
    image_shape,
    interpolation_of,
    map_bboxes,
    map_points,
    pts_keys,
    record_padding,
    record_resize,
    settle_bboxes,
)

__all__ = ["RandomFlip", "Resize", "RandomResize", "Pad32", "flip_results", "resize_results",
           "pad_centered"]

DIRECTIONS = ("horizontal", "vertical", "diagonal")
MIRRORS = ("horizontal", "vertical")  # a diagonal flip is a 180 degree rotation


def flip_results(results: dict, direction: str, flip_pairs=()) -> dict:
    """Flip every field of ``results`` in ``direction`` (no randomness). On a mirror
    flip the rows of each ``flip_pairs`` entry ``(left, right)`` of the point arrays
    swap, so a "left eye" point still marks the left eye of the mirrored face."""
    keys = geometric_keys(results)
    shape = image_shape(results, keys)
    for key, _ in keys:
        results[key] = S.flip_image(results[key], direction)
    map_bboxes(results, lambda b: F.flip_bboxes(b, shape, direction))
    map_points(results, lambda p: F.flip_points(p, shape, direction))
    if flip_pairs and direction in MIRRORS:
        for key in pts_keys(results):
            pts = results[key]
            for a, b in flip_pairs:
                if max(a, b) < len(pts):
                    pts[[a, b]] = pts[[b, a]]
    results["img_shape"] = shape
    return results


def _check_flip_pairs(owner, value):
    pairs = [] if value is None else list(value)
    for pair in pairs:
        ok = (isinstance(pair, (list, tuple)) and len(pair) == 2
              and all(isinstance(v, numbers.Integral) and v >= 0 for v in pair))
        if not ok:
            raise ConfigError(f"{owner}: flip_pairs must be a list of [left, right] point "
                              f"indices, got {value!r}")
    return [tuple(int(v) for v in p) for p in pairs]


@TRANSFORM_REGISTRY.register()
class RandomFlip(BaseTransform):
    """With probability ``p``, flip in one direction drawn uniformly from ``direction``.

    ``diagonal`` flips both axes. ``flip_pairs`` swaps left/right keypoints on mirror
    flips. Records ``flip`` (bool) and ``flip_direction`` (the direction, or None; the
    seed's ``direction`` key too) so a test-time pipeline can undo it.
    """

    def __init__(self, direction=DIRECTIONS, p: float = 0.5, flip_pairs=None):
        name = type(self).__name__
        directions = [direction] if isinstance(direction, str) else list(direction or [])
        if not directions:
            raise ConfigError(f"{name}: direction must name at least one of {list(DIRECTIONS)}")
        for d in directions:
            check_choice(name, "direction", d, DIRECTIONS)
        self.direction = direction if isinstance(direction, str) else directions
        self._directions = directions
        self.p = check_prob(name, "p", p)
        self.flip_pairs = _check_flip_pairs(name, flip_pairs)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        results["flip"], results["flip_direction"] = False, None
        if rng.random() < self.p:
            choices = self._directions
            direction = choices[int(rng.integers(len(choices)))] if len(choices) > 1 else choices[0]
            flip_results(results, direction, self.flip_pairs)
            results["flip"] = True
            results["flip_direction"] = results["direction"] = direction
        return results


def pad_centered(results: dict, shape, pad_val=0, mask_pad_val=0, clip_border=True) -> tuple:
    """Pad every field equally on both sides up to ``shape`` (the extra pixel of an odd
    difference goes bottom/right, as in the seed); returns ``(top, bottom, left, right)``."""
    keys = geometric_keys(results)
    h, w = image_shape(results, keys)
    dh, dw = max(0, int(shape[0]) - h), max(0, int(shape[1]) - w)
    top, left = dh // 2, dw // 2
    bottom, right = dh - top, dw - left
    if not (dh or dw):
        return 0, 0, 0, 0
    for key, is_mask in keys:
        fill = fill_value(results, key, mask_pad_val if is_mask else pad_val)
        results[key] = S.pad_border(results[key], top, bottom, left, right, fill)
    results["img_shape"] = (h + dh, w + dw)
    shift = np.array([left, top], np.float32)
    map_bboxes(results, lambda b: _shift(b, shift, 4))
    map_points(results, lambda p: _shift(p, shift, 2))
    record_padding(results, top, bottom, left, right)
    settle_bboxes(results, results["img_shape"], clip_border)
    return top, bottom, left, right


def _shift(arr, shift, cols):
    arr[:, 0:cols] += np.tile(shift, cols // 2)
    return arr


def resize_results(results: dict, size, flag: int, clip_border: bool = True) -> dict:
    """Resize every field to ``size = (h, w)`` (or ``size(shape)``: the size for the
    current ``(h, w)``); image fields use their own ``results['interpolation']`` entry,
    else ``flag``; masks use nearest neighbour."""
    flag = take_interpolation(results, flag)
    keys = geometric_keys(results)
    h, w = image_shape(results, keys)
    if callable(size):
        size = size((h, w))
    nh, nw = int(size[0]), int(size[1])
    sx, sy = nw / w, nh / h
    for key, is_mask in keys:
        if is_mask:
            results[key] = S.resize_nearest(results[key], (nh, nw))
        else:
            results[key] = F.resize(results[key], (nh, nw), interpolation_of(results, key, flag))
    results["img_shape"] = (nh, nw)

    def scale_boxes(b):
        b[:, 0:4] *= np.array([sx, sy, sx, sy], dtype=np.float32)
        return b

    def scale_points(p):
        p[:, 0:2] *= np.array([sx, sy], dtype=np.float32)
        return clip_points(p, (nh, nw)) if clip_border else p

    map_bboxes(results, scale_boxes)
    map_points(results, scale_points)
    settle_bboxes(results, (nh, nw), clip_border)
    record_resize(results, sx, sy)
    results["scale_factor"] = np.array([sx, sy, sx, sy], dtype=np.float32)
    return results


@TRANSFORM_REGISTRY.register()
class Resize(BaseTransform):
    """Resize to ``target_size`` (an int, or ``[height, width]``).

    - ``keep_ratio=False``: exactly ``target_size`` (an int means a square).
    - ``keep_ratio=True``: scale by one factor so the image fits inside ``target_size``;
      an int is the length of the long side. ``is_padding`` then pads the short side
      (centred) up to ``target_size``, as the seed does.
    - ``interpolation``: a cv2 name, a list of names to draw one from per sample, or
      ``{field: name}`` (a field given ``INTER_NEAREST`` is a mask: ``field_roles``).

    Boxes and points are scaled with the image; with ``clip_border`` they are clipped to
    it. Records ``scale``, ``pad_offset``, ``scale_factor = [sx, sy, sx, sy]`` and
    ``keep_ratio``.
    """

    def __init__(self, target_size, interpolation="INTER_LINEAR", keep_ratio: bool = False,
                 clip_border: bool = True, is_padding: bool = False, pad_val=0, mask_pad_val=0):
        name = type(self).__name__
        self._size = check_size(name, "target_size", target_size)
        self._flags = interpolation_arg(name, interpolation)
        self._long_side = isinstance(target_size, numbers.Integral)
        self.target_size = target_size
        self.interpolation = interpolation
        self.keep_ratio = bool(keep_ratio)
        self.clip_border = bool(clip_border)
        self.is_padding = bool(is_padding)
        self.pad_val = pad_val
        self.mask_pad_val = mask_pad_val

    def output_shape(self, shape, size=None) -> tuple:
        """``(height, width)`` of the resized (not yet padded) image of ``shape``."""
        size = size or self._size
        h, w = shape[:2]
        if not self.keep_ratio:
            return size
        if size[0] == size[1] and self._long_side:
            scale = size[0] / max(h, w)
        else:
            scale = min(size[0] / h, size[1] / w)
        # half up, as the seed (and mmcv) round: int(h * scale + 0.5)
        return max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))

    def _flag(self, rng):
        if len(self._flags) == 1:
            return self._flags[0]
        return self._flags[int(as_rng(rng).integers(len(self._flags)))]

    def _apply(self, results, size, flag, pad_to=None):
        resize_results(results, lambda shape: self.output_shape(shape, size), flag,
                       self.clip_border)
        if pad_to is not None:
            pad_centered(results, pad_to, self.pad_val, self.mask_pad_val, self.clip_border)
        results["keep_ratio"] = self.keep_ratio
        return results

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        pad_to = self._size if self.keep_ratio and self.is_padding else None
        return self._apply(results, self._size, self._flag(rng), pad_to)


@TRANSFORM_REGISTRY.register()
class RandomResize(Resize):
    """Resize to a size drawn from ``max_edge_length`` (plus ``padding_size`` itself),
    then pad (centred) to a ``padding_size`` square, the seed's multi-scale training.

    Lengths not smaller than ``padding_size`` are dropped, as in the seed, so the output
    is always ``padding_size x padding_size``.
    """

    def __init__(self, max_edge_length, padding_size, interpolation="INTER_LINEAR",
                 keep_ratio: bool = True, clip_border: bool = True, pad_val=0, mask_pad_val=0):
        name = type(self).__name__
        check_size(name, "padding_size", padding_size)
        if isinstance(padding_size, (list, tuple)):
            raise ConfigError(f"{name}: padding_size must be one positive int, got {padding_size!r}")
        lengths = [max_edge_length] if isinstance(max_edge_length, numbers.Integral) else max_edge_length
        if not isinstance(lengths, (list, tuple)) or not lengths:
            raise ConfigError(f"{name}: max_edge_length must be a positive int or a list of "
                              f"them, got {max_edge_length!r}")
        for v in lengths:
            check_size(name, "max_edge_length", v)
        super().__init__(padding_size, interpolation, keep_ratio, clip_border, True, pad_val,
                         mask_pad_val)
        self.max_edge_length = max_edge_length
        self.padding_size = padding_size
        self._lengths = sorted({int(v) for v in lengths if v < padding_size} | {int(padding_size)})

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        length = self._lengths[int(rng.integers(len(self._lengths)))]
        return self._apply(results, (length, length), self._flag(rng),
                           (self.padding_size, self.padding_size))


@TRANSFORM_REGISTRY.register()
class Pad32(BaseTransform):
    """Pad (centred, as the seed does) so height and width are multiples of
    ``size_divisor`` (32). Records ``pad_shape`` and ``pad_offset``; boxes and points
    shift with the image."""

    def __init__(self, size_divisor: int = 32, pad_val=0, mask_pad_val=0):
        if not isinstance(size_divisor, numbers.Integral) or isinstance(size_divisor, bool) \
                or size_divisor < 1:
            raise ConfigError(f"Pad32: size_divisor must be a positive int, got {size_divisor!r}")
        self.size_divisor = int(size_divisor)
        self.pad_val = pad_val
        self.mask_pad_val = mask_pad_val

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        h, w = image_shape(results)
        d = self.size_divisor
        shape = (-(-h // d) * d, -(-w // d) * d)
        pad_centered(results, shape, self.pad_val, self.mask_pad_val)
        results["pad_shape"] = shape
        results.setdefault("pad_offset", [0, 0, 0, 0])
        return results
