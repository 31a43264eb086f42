"""Transforms that cut or extend the canvas: random and centre crops, padding.

Crops shift boxes and points by the window's offset (clipping them to the window when
``clip_border``); padding only adds rows and columns at the bottom and right, so no
coordinate moves. Boxes that end up outside a crop are removed, together with the rows
of the arrays named in ``bbox_label_fields`` (see :mod:`engine.transforms.fields`), so
labels stay aligned with the boxes that remain. A crop is a view into its input, not a
copy: no transform writes into the arrays it is given (``Cutout``/``RandomErasing``
copy before painting), and ``to_tensor`` makes the final contiguous copy anyway.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from . import functional as F
from .base import BaseTransform, as_rng, check_prob, check_range, check_size
from .build import TRANSFORM_REGISTRY
from .field_roles import interpolation_arg
from .fields import (
    clip_points,
    fill_value,
    geometric_keys,
    image_shape,
    map_bboxes,
    map_images,
    map_points,
    record_padding,
    settle_bboxes,
)

__all__ = ["RandomCrop", "RandomResizedCrop", "CenterCrop", "Pad", "crop_results", "pad_results"]


def crop_results(results: dict, top: int, left: int, height: int, width: int,
                 clip_border: bool = True) -> dict:
    """Cut the ``height x width`` window at ``(top, left)`` out of every field."""
    h, w = image_shape(results)
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(f"crop window top={top}, left={left}, {height}x{width} does not fit an "
                         f"image of {h}x{w}")
    # a view, not a copy: transforms never write into the arrays they are given
    map_images(results, lambda img: img[top:top + height, left:left + width])
    results["img_shape"] = (height, width)
    offset = np.array([left, top], dtype=np.float32)

    def shift_boxes(b):
        b[:, 0:4] -= np.tile(offset, 2)
        return b

    def shift_points(p):
        p[:, 0:2] -= offset
        return clip_points(p, (height, width)) if clip_border else p

    map_bboxes(results, shift_boxes)
    map_points(results, shift_points)
    settle_bboxes(results, (height, width), clip_border)
    results["crop_bbox"] = np.array([left, top, left + width, top + height], dtype=np.float32)
    return results


def pad_results(results: dict, shape, pad_val=0, mask_pad_val=0) -> dict:
    """Pad every image-like field at the bottom and right to ``shape = (h, w)``; a field's
    ``results['pad_value']`` entry wins over ``pad_val`` / ``mask_pad_val``."""
    h, w = image_shape(results)
    for key, is_mask in geometric_keys(results):
        fill = fill_value(results, key, mask_pad_val if is_mask else pad_val)
        results[key] = F.pad(results[key], shape, fill)
    results["img_shape"] = results["pad_shape"] = tuple(int(v) for v in shape)
    record_padding(results, 0, int(shape[0]) - h, 0, int(shape[1]) - w)
    return results


def _check_pad_val(owner: str, name: str, value):
    """A fill: a number, one per channel, or ``{field: fill}`` (per-field fills)."""
    if isinstance(value, dict):
        for key, v in value.items():
            _check_pad_val(owner, f"{name}[{key!r}]", v)
        return value
    values = value if isinstance(value, (list, tuple)) else [value]
    ok = bool(values) and all(isinstance(v, numbers.Real) for v in values)
    if not ok or isinstance(value, bool):
        raise ConfigError(
            f"{owner}: {name} must be a number, a list of numbers (one per channel) or a "
            f"dict {{field: fill}}, got {value!r}"
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


def _crop_ratios(owner, min_crop_ratio, max_crop_ratio, crop_step):
    """The seed's crop grid: each side keeps a fraction drawn from
    ``1 - max_crop_ratio, 1 - max_crop_ratio + crop_step, ..., 1 - min_crop_ratio``."""
    def number(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool)

    if not (number(min_crop_ratio) and number(max_crop_ratio)
            and 0 <= min_crop_ratio <= max_crop_ratio < 1):
        raise ConfigError(
            f"{owner}: min_crop_ratio and max_crop_ratio (the fraction of each side cut "
            f"away) must satisfy 0 <= min_crop_ratio <= max_crop_ratio < 1, got "
            f"{min_crop_ratio!r}, {max_crop_ratio!r}")
    if not number(crop_step) or crop_step <= 0:
        raise ConfigError(f"{owner}: crop_step must be a positive number, got {crop_step!r}")
    count = int(np.floor((max_crop_ratio - min_crop_ratio) / crop_step + 1e-9)) + 1
    return np.round(1.0 - max_crop_ratio + crop_step * np.arange(count), 10)


@TRANSFORM_REGISTRY.register()
class RandomCrop(_Crop):
    """With probability ``p``, crop a window at a uniformly drawn position. Two forms:

    - ``size`` (int or ``[h, w]``): a fixed window. An image smaller than ``size`` is an
      error unless ``pad_if_needed``, which pads it at the bottom/right with ``pad_val``
      (images) and ``mask_pad_val`` (masks) first.
    - the seed's ``min_crop_ratio`` / ``max_crop_ratio`` / ``crop_step``: height and width
      each keep a fraction ``1 - r`` of the image, ``r`` drawn independently from
      ``min_crop_ratio, min_crop_ratio + crop_step, ..., max_crop_ratio``.

    Boxes left outside the window are removed with their aligned rows. Records
    ``crop_bbox = [x1, y1, x2, y2]`` of the window in the input image.
    """

    def __init__(self, size=None, pad_if_needed=False, pad_val=0, mask_pad_val=0,
                 clip_border=True, min_crop_ratio=None, max_crop_ratio=None, crop_step=0.1,
                 p=1.0):
        name = type(self).__name__
        by_ratio = min_crop_ratio is not None or max_crop_ratio is not None
        if (size is None) == (not by_ratio):
            raise ConfigError(
                f"{name}: give either size (a fixed window) or min_crop_ratio and "
                f"max_crop_ratio (the seed's ratio crop), got size={size!r}, "
                f"min_crop_ratio={min_crop_ratio!r}, max_crop_ratio={max_crop_ratio!r}")
        super().__init__(1 if size is None else size, pad_if_needed, pad_val, mask_pad_val,
                         clip_border)
        self.size = size
        self.min_crop_ratio, self.max_crop_ratio, self.crop_step = (
            min_crop_ratio, max_crop_ratio, crop_step)
        self._ratios = None
        if by_ratio:
            lo = 0.0 if min_crop_ratio is None else min_crop_ratio
            hi = lo if max_crop_ratio is None else max_crop_ratio
            self._ratios = _crop_ratios(name, lo, hi, crop_step)
        self.p = check_prob(name, "p", p)

    def _offset(self, h, w, rng, ch=None, cw=None):
        ch, cw = (ch, cw) if ch is not None else self._size
        u, v = rng.random(2)  # one draw for both: Generator calls cost more than the crop
        return min(int(u * (h - ch + 1)), h - ch), min(int(v * (w - cw + 1)), w - cw)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if self.p < 1.0 and rng.random() >= self.p:
            return results
        if self._ratios is None:
            h, w = self._fit(results)
            top, left = self._offset(h, w, rng)
            return crop_results(results, top, left, self._size[0], self._size[1],
                                self.clip_border)
        h, w = image_shape(results)
        keep_h, keep_w = (self._ratios[int(i)] for i in rng.integers(len(self._ratios), size=2))
        ch, cw = max(1, int(h * keep_h + 0.5)), max(1, int(w * keep_w + 0.5))
        top, left = self._offset(h, w, rng, min(ch, h), min(cw, w))
        return crop_results(results, top, left, min(ch, h), min(cw, w), self.clip_border)


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


@TRANSFORM_REGISTRY.register()
class RandomResizedCrop(BaseTransform):
    """torchvision's RandomResizedCrop: a window covering a fraction of the area drawn
    from ``scale`` with aspect ratio (w/h) drawn log-uniformly from ``ratio``, resized to
    ``size`` (int or ``[h, w]``). After 10 failed draws, the centre crop of the largest
    window within ``ratio`` is used. Boxes left outside are removed with their rows."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                 interpolation="INTER_LINEAR", clip_border=True):
        name = type(self).__name__
        self._size = check_size(name, "size", size)
        self._scale = check_range(name, "scale", scale, low=1e-6, high=1.0)
        self._ratio = check_range(name, "ratio", ratio, low=1e-6)
        self._flag = interpolation_arg(name, interpolation, single=True)[0]
        self.size, self.scale, self.ratio = size, scale, ratio
        self.interpolation, self.clip_border = interpolation, bool(clip_border)

    def window(self, h: int, w: int, rng) -> tuple:
        """``(top, left, height, width)`` of the crop for an ``h x w`` image."""
        area = h * w
        log_ratio = np.log(self._ratio)
        for _ in range(10):
            target = area * rng.uniform(*self._scale)
            aspect = float(np.exp(rng.uniform(*log_ratio)))
            cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
        aspect = w / h
        if aspect < self._ratio[0]:
            cw, ch = w, int(round(w / self._ratio[0]))
        elif aspect > self._ratio[1]:
            ch, cw = h, int(round(h * self._ratio[1]))
        else:
            cw, ch = w, h
        ch, cw = max(1, min(ch, h)), max(1, min(cw, w))
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        from .geometric import resize_results

        h, w = image_shape(results)
        top, left, ch, cw = self.window(h, w, as_rng(rng))
        crop_results(results, top, left, ch, cw, self.clip_border)
        return resize_results(results, self._size, self._flag, self.clip_border)
