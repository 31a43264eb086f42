"""Array operations the transforms are made of, usable on their own (``import ... as F``).

Every function is deterministic and returns a new array (inputs are never modified), so
the random part of augmentation lives only in the transform classes, which draw from the
``rng`` they are given. Images are numpy arrays, H x W or H x W x C. Colour operations
keep the dtype: ``uint8`` in gives ``uint8`` out, saturated to [0, 255] rather than
wrapped; float images are taken to be in [0, 1] (as after :func:`to_tensor`) and are
clipped to it. Saturation and hue assume three channels in RGB order and leave other
images unchanged. Coordinates follow :mod:`engine.transforms.fields`.

The seed's spellings of some of these (``gamma_transform``, ``imflip``...) and its argument
helpers come from engine/compat/seed/transforms_functional.py, so a seed project's
``F.<name>`` calls resolve here while the core keeps one implementation per operation.
"""
import numbers
from typing import Tuple, Union

import cv2
import numpy as np
import torch

from engine.compat.seed.transforms_functional import *  # noqa: F401,F403  the seed's spellings
from engine.compat.seed.transforms_functional import __all__ as _SEED_NAMES
from .functional_color import (  # noqa: F401  (re-exported: F.adjust_brightness, ...)
    add_noise, adjust_brightness, adjust_contrast, adjust_gamma, adjust_hue, adjust_saturation,
    apply_lut, brightness_contrast, clahe, denormalize, image_compression, linear,
    move_tone_curve, normalize, sharpen, to_gray,
)
from .functional_dtype import *  # noqa: F401,F403  (MAX_VALUES_BY_DTYPE, to_float, ...)
from .functional_dtype import __all__ as _DTYPE_NAMES
from .functional_filter import blur, convolve, defocus, glass_blur, median_blur  # noqa: F401
from .functional_spatial import find_inside_bboxes, find_inside_pts, pad_border  # noqa: F401

__all__ = [
    "INTERPOLATIONS", "interpolation_flag", "to_tensor", "normalize", "denormalize",
    "hflip", "vflip", "resize", "resize_mask", "crop", "pad", "pad_centred", "flip_bboxes",
    "flip_points",
    "find_inside_bboxes", "find_inside_pts",
    "adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue", "adjust_gamma",
    "gaussian_blur", "blur", "median_blur", "convolve", "defocus", "glass_blur",
    "apply_lut", "linear", "brightness_contrast", "move_tone_curve", "to_gray", "clahe",
    "image_compression", "sharpen", "add_noise",
] + _DTYPE_NAMES + _SEED_NAMES

INTERPOLATIONS = {
    name: getattr(cv2, name)
    for name in (
        "INTER_NEAREST",
        "INTER_LINEAR",
        "INTER_CUBIC",
        "INTER_AREA",
        "INTER_LANCZOS4",
        "INTER_LINEAR_EXACT",
        "INTER_NEAREST_EXACT",
    )
    if hasattr(cv2, name)
}

def interpolation_flag(name: Union[str, int]) -> int:
    """The OpenCV flag for an interpolation given by its cv2 name (``'INTER_LINEAR'``)."""
    if isinstance(name, str) and name.upper() in INTERPOLATIONS:
        return INTERPOLATIONS[name.upper()]
    if isinstance(name, int) and not isinstance(name, bool) and name in INTERPOLATIONS.values():
        return name
    raise ValueError(
        f"unknown interpolation {name!r}; expected one of {sorted(INTERPOLATIONS)}"
    )


def _keep_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    if like.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


# ----------------------------------------------------------------------------- tensors


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """H x W x C (or H x W) array -> C x H x W float32 tensor.

    ``uint8`` images are divided by 255 (the torchvision convention); every other dtype
    keeps its values, so an image that was already normalised is not scaled twice.
    """
    if isinstance(img, torch.Tensor):
        raise TypeError("to_tensor expects a numpy array, got a torch.Tensor")
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise ValueError(f"to_tensor expects an H x W or H x W x C array, got shape {img.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    return tensor.float()


# ----------------------------------------------------------------------------- geometry


def hflip(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img[:, ::-1])


def vflip(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img[::-1])


def resize(img: np.ndarray, size: Tuple[int, int], interpolation="INTER_LINEAR") -> np.ndarray:
    """Resize to ``size = (height, width)`` with a cv2 interpolation (name or flag)."""
    h, w = size
    out = cv2.resize(img, (int(w), int(h)), interpolation=interpolation_flag(interpolation))
    return _keep_channels(out, img)


def resize_mask(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map, any dtype, never inventing a label.

    Output pixel ``i`` takes source pixel ``floor((i + 0.5) * src / dst)``: the pixel
    whose area contains the output pixel's centre, the same alignment as cv2's linear
    resize, so masks stay registered with images resized by :func:`resize`.
    """
    h, w = mask.shape[:2]
    nh, nw = int(size[0]), int(size[1])
    rows = np.minimum(((np.arange(nh) + 0.5) * h / nh).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(nw) + 0.5) * w / nw).astype(np.int64), w - 1)
    return np.ascontiguousarray(mask[rows[:, None], cols[None, :]])


def crop(img: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The ``height x width`` window whose top-left pixel is ``(top, left)``; must fit."""
    h, w = img.shape[:2]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(
            f"crop window top={top}, left={left}, {height}x{width} does not fit an "
            f"image of {h}x{w}"
        )
    return img[top:top + height, left:left + width].copy()


def pad(img: np.ndarray, shape: Tuple[int, int] = None, pad_val=0, *, t_h=None,
        t_w=-1) -> np.ndarray:
    """Pad bottom and right to ``shape = (height, width)``; coordinates do not move.

    ``pad_val`` is a number or one value per channel. An int ``shape`` (or ``t_h=``) is
    the seed's call ``pad(img, t_h, t_w=-1)``, whose third argument is the width: see
    :func:`pad_centred`.
    """
    if t_h is not None or isinstance(shape, numbers.Integral):
        return pad_centred(img, shape if t_h is None else t_h, t_w if t_w != -1 else pad_val or -1)
    h, w = img.shape[:2]
    ph, pw = int(shape[0]), int(shape[1])
    if ph < h or pw < w:
        raise ValueError(f"cannot pad an image of {h}x{w} to the smaller size {ph}x{pw}")
    out = np.empty((ph, pw) + img.shape[2:], dtype=img.dtype)
    out[...] = pad_val
    out[:h, :w] = img
    return out


def pad_centred(img: np.ndarray, t_h: int, t_w: int = -1) -> np.ndarray:
    """Zero padding, split evenly (the odd pixel at the bottom / right), up to at least
    ``t_h x t_w`` (``t_w <= 0``: ``t_h``); a side already long enough is left alone, so
    an image wider than ``t_w`` but short still gets its rows."""
    t_w = t_h if t_w <= 0 else t_w
    dh, dw = max(0, int(t_h) - img.shape[0]), max(0, int(t_w) - img.shape[1])
    if not (dh or dw):
        return img.copy()
    return pad_border(img, dh // 2, dh - dh // 2, dw // 2, dw - dw // 2, 0)


def _check_direction(direction: str) -> None:
    if direction not in ("horizontal", "vertical", "diagonal"):
        raise ValueError(
            f"unknown flip direction {direction!r}; expected 'horizontal', 'vertical' "
            f"or 'diagonal'"
        )


def flip_bboxes(bboxes: np.ndarray, img_shape: Tuple[int, int], direction: str) -> np.ndarray:
    """Boxes ``x1, y1, x2, y2`` of an image of ``img_shape = (h, w)`` after a flip.

    ``diagonal`` flips both axes (a 180 degree rotation), as in mmcv.
    """
    _check_direction(direction)
    h, w = img_shape[:2]
    src = np.asarray(bboxes, dtype=np.float32).reshape(-1, np.shape(bboxes)[-1])
    out = src.copy()
    if direction in ("horizontal", "diagonal"):
        out[:, 0], out[:, 2] = w - src[:, 2], w - src[:, 0]
    if direction in ("vertical", "diagonal"):
        out[:, 1], out[:, 3] = h - src[:, 3], h - src[:, 1]
    return out


def flip_points(points: np.ndarray, img_shape: Tuple[int, int], direction: str) -> np.ndarray:
    """Points ``x, y`` (further columns untouched) after a flip."""
    _check_direction(direction)
    h, w = img_shape[:2]
    out = np.asarray(points, dtype=np.float32).reshape(-1, np.shape(points)[-1]).copy()
    if direction in ("horizontal", "diagonal"):
        out[:, 0] = w - out[:, 0]
    if direction in ("vertical", "diagonal"):
        out[:, 1] = h - out[:, 1]
    return out


# ----------------------------------------------------------------------------- colour


def gaussian_blur(img: np.ndarray, ksize: int, sigma: float = 0.0) -> np.ndarray:
    """Gaussian blur with an odd square kernel; ``sigma=0`` derives sigma from the size,
    ``ksize=0`` (with ``sigma > 0``) derives the size from sigma, as in OpenCV."""
    if ksize == 0 and sigma > 0:
        pass
    elif ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"gaussian_blur: ksize must be odd and positive (or 0 with "
                         f"sigma > 0), got {ksize}")
    out = cv2.GaussianBlur(img, (int(ksize), int(ksize)), sigma)
    return _keep_channels(out, img)

