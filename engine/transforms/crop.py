"""Transforms that cut or extend the canvas: random and centre crops, padding.

Crops shift boxes and points by the window's offset (clipping them to the window when
``clip_border``); padding only adds rows and columns at the bottom and right, so no
coordinate moves. Boxes that end up outside a crop are kept as zero-area boxes rather
than dropped, so they stay index-aligned with whatever labels the dataset keeps beside
them; filter them after the pipeline if your loss needs to.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from . import functional as F
from .base import BaseTransform, as_rng, check_size
from .build import TRANSFORM_REGISTRY
from .fields import clip_bboxes, clip_points, image_shape, map_bboxes, map_images, map_points

__all__ = ["RandomCrop", "CenterCrop", "Pad", "crop_results", "pad_results"]


def crop_results(results: dict, top: int, left: int, height: int, width: int,
                 clip_border: bool = True) -> dict:
    """Cut the ``height x width`` window at ``(top, left)`` out of every field."""
    map_images(results, lambda img: F.crop(img, top, left, height, width))
    results["img_shape"] = (height, width)
    offset = np.array([left, top], dtype=np.float32)

    def shift_boxes(b):
        b[:, 0:4] -= np.tile(offset, 2)
        return clip_bboxes(b, (height, width)) if clip_border else b

    def shift_points(p):
        p[:, 0:2] -= offset
        return clip_points(p, (height, width)) if clip_border else p

    map_bboxes(results, shift_boxes)
    map_points(results, shift_points)
    results["crop_bbox"] = np.array([left, top, left + width, top + height], dtype=np.float32)
    return results


def pad_results(results: dict, shape, pad_val=0, mask_pad_val=0) -> dict:
    """Pad every image-like field at the bottom and right to ``shape = (h, w)``."""
    map_images(
        results,
        lambda img: F.pad(img, shape, pad_val),
        lambda mask: F.pad(mask, shape, mask_pad_val),
    )
    results["img_shape"] = results["pad_shape"] = tuple(int(v) for v in shape)
    return results


def _check_pad_val(owner: str, name: str, value):
    values = value if isinstance(value, (list, tuple)) else [value]
    ok = bool(values) and all(isinstance(v, numbers.Real) for v in values)
    if not ok or isinstance(value, bool):
        raise ConfigError(
            f"{owner}: {name} must be a number or a list of numbers (one per channel), "
            f"got {value!r}"
        )
    return value


class _Crop(BaseTransform):
    """Shared by the crops: size checks and padding of images smaller than the window."""

    def __init__(self, size, pad_if_needed=False, pad_val=0, mask_pad_val=0, clip_border=True):
        name = type(self).__name__
        self._size = check_size(name, "size", size)
        self.size = size
        self.pad_if_needed = bool(pad_if_needed)
        self.pad_val = _check_pad_val(name, "pad_val", pad_val)
        self.mask_pad_val = _check_pad_val(name, "mask_pad_val", mask_pad_val)
        self.clip_border = bool(clip_border)

    def _fit(self, results: dict):
        """Image shape after padding it up to the window if it is smaller and allowed."""
        (h, w), (ch, cw) = image_shape(results), self._size
        if h >= ch and w >= cw:
            return h, w
        if not self.pad_if_needed:
            raise ValueError(
                f"{type(self).__name__}: the image is {h}x{w}, smaller than the crop size "
                f"{ch}x{cw}; set pad_if_needed=True or resize/pad before cropping"
            )
        pad_results(results, (max(h, ch), max(w, cw)), self.pad_val, self.mask_pad_val)
        return image_shape(results)

    def _offset(self, h: int, w: int, rng):
        raise NotImplementedError

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        h, w = self._fit(results)
        top, left = self._offset(h, w, as_rng(rng))
        return crop_results(results, top, left, self._size[0], self._size[1], self.clip_border)


@TRANSFORM_REGISTRY.register()
class RandomCrop(_Crop):
    """Crop a ``size`` window (int or ``[h, w]``) at a uniformly drawn position.

    An image smaller than ``size`` is an error unless ``pad_if_needed``, which pads it at
    the bottom/right with ``pad_val`` (images) and ``mask_pad_val`` (masks) first.
    Records ``crop_bbox = [x1, y1, x2, y2]`` of the window in the input image.
    """

    def _offset(self, h, w, rng):
        ch, cw = self._size
        return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))


@TRANSFORM_REGISTRY.register()
class CenterCrop(_Crop):
    """Crop a ``size`` window at the centre (rounding the offset down). Same parameters
    and records as :class:`RandomCrop`; it draws nothing from ``rng``."""

    def _offset(self, h, w, rng):
        return (h - self._size[0]) // 2, (w - self._size[1]) // 2


@TRANSFORM_REGISTRY.register()
class Pad(BaseTransform):
    """Pad at the bottom and right to a fixed ``size`` or to a multiple of ``size_divisor``.

    Give exactly one of the two. ``pad_val`` fills images (a number or one per channel),
    ``mask_pad_val`` fills masks (use your ignore index, e.g. 255, to keep padding out of
    a segmentation loss). ``img_shape`` becomes the padded size; ``pad_shape`` records it.
    """

    def __init__(self, size=None, size_divisor=None, pad_val=0, mask_pad_val=0):
        name = type(self).__name__
        if (size is None) == (size_divisor is None):
            raise ConfigError(
                f"{name}: give exactly one of size (a fixed output size) and size_divisor "
                f"(pad to a multiple), got size={size!r}, size_divisor={size_divisor!r}"
            )
        self._size = None if size is None else check_size(name, "size", size)
        if size_divisor is not None and (
            not isinstance(size_divisor, numbers.Integral) or isinstance(size_divisor, bool)
            or size_divisor < 1
        ):
            raise ConfigError(f"{name}: size_divisor must be a positive int, got {size_divisor!r}")
        self.size = size
        self.size_divisor = size_divisor
        self.pad_val = _check_pad_val(name, "pad_val", pad_val)
        self.mask_pad_val = _check_pad_val(name, "mask_pad_val", mask_pad_val)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        h, w = image_shape(results)
        if self._size is not None:
            shape = self._size
            if h > shape[0] or w > shape[1]:
                raise ValueError(
                    f"Pad: the image is {h}x{w}, larger than size {shape[0]}x{shape[1]}; "
                    f"resize or crop it first"
                )
        else:
            d = self.size_divisor
            shape = (-(-h // d) * d, -(-w // d) * d)
        return pad_results(results, shape, self.pad_val, self.mask_pad_val)
