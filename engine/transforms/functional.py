"""Array operations the transforms are made of, usable on their own (``import ... as F``).

Every function is deterministic and returns a new array (inputs are never modified), so
the random part of augmentation lives only in the transform classes, which draw from the
``rng`` they are given. Images are numpy arrays, H x W or H x W x C. Colour operations
keep the dtype: ``uint8`` in gives ``uint8`` out, saturated to [0, 255] rather than
wrapped; float images are taken to be in [0, 1] (as after :func:`to_tensor`) and are
clipped to it. Saturation and hue assume three channels in RGB order and leave other
images unchanged. Coordinates follow :mod:`engine.transforms.fields`.
"""
from typing import Tuple, Union

import cv2
import numpy as np
import torch

__all__ = [
    "INTERPOLATIONS",
    "interpolation_flag",
    "to_tensor",
    "normalize",
    "hflip",
    "vflip",
    "resize",
    "resize_mask",
    "crop",
    "pad",
    "flip_bboxes",
    "flip_points",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "adjust_gamma",
    "gaussian_blur",
]

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

_RGB_TO_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


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


def normalize(img: np.ndarray, mean, std, to_rgb: bool = False) -> np.ndarray:
    """``(img - mean) / std`` per channel, in float32. ``to_rgb`` swaps BGR to RGB first."""
    img = np.asarray(img, dtype=np.float32)
    channels = img.shape[2] if img.ndim == 3 else 1
    if to_rgb and channels == 3:
        img = img[:, :, ::-1]
    mean = np.asarray(mean, dtype=np.float32).reshape(-1)
    std = np.asarray(std, dtype=np.float32).reshape(-1)
    for name, value in (("mean", mean), ("std", std)):
        if value.size not in (1, channels):
            raise ValueError(
                f"normalize: {name} has {value.size} values but the image has "
                f"{channels} channel(s)"
            )
    if img.ndim == 2:
        mean, std = mean[0], std[0]
    return ((img - mean) / std).astype(np.float32)


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


def pad(img: np.ndarray, shape: Tuple[int, int], pad_val=0) -> np.ndarray:
    """Pad bottom and right to ``shape = (height, width)``; coordinates do not move.

    ``pad_val`` is a number or one value per channel.
    """
    h, w = img.shape[:2]
    ph, pw = int(shape[0]), int(shape[1])
    if ph < h or pw < w:
        raise ValueError(f"cannot pad an image of {h}x{w} to the smaller size {ph}x{pw}")
    out = np.empty((ph, pw) + img.shape[2:], dtype=img.dtype)
    out[...] = pad_val
    out[:h, :w] = img
    return out


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


def _finish(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Back to the input's dtype, saturating: [0, 255] for uint8, [0, 1] for floats."""
    if like.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.clip(out, 0.0, 1.0).astype(like.dtype)


def _is_rgb(img: np.ndarray) -> bool:
    return img.ndim == 3 and img.shape[2] == 3


def _gray(img: np.ndarray) -> np.ndarray:
    if _is_rgb(img):
        return img.astype(np.float32) @ _RGB_TO_GRAY
    return img.astype(np.float32).reshape(img.shape[:2] + (-1,)).mean(axis=2)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """Multiply by ``factor`` (1 keeps the image, 0 gives black)."""
    return _finish(img.astype(np.float32) * factor, img)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the mean grey level (1 keeps the image, 0 gives flat grey)."""
    mean = float(_gray(img).mean())
    return _finish(img.astype(np.float32) * factor + mean * (1.0 - factor), img)


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend an RGB image with its greyscale (1 keeps it, 0 gives grey)."""
    if not _is_rgb(img):
        return img.copy()
    gray = _gray(img)[:, :, None]
    return _finish(img.astype(np.float32) * factor + gray * (1.0 - factor), img)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue of an RGB image by ``factor`` turns, ``factor`` in [-0.5, 0.5]."""
    if not -0.5 <= factor <= 0.5:
        raise ValueError(f"hue factor must be in [-0.5, 0.5], got {factor}")
    if not _is_rgb(img) or factor == 0:
        return img.copy()
    if img.dtype == np.uint8:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)  # hue in 0..255 for a full turn
        shift = int(round(factor * 256))
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + shift) % 256).astype(np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    hsv = cv2.cvtColor(np.clip(img, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)  # degrees
    hsv[:, :, 0] = (hsv[:, :, 0] + factor * 360.0) % 360.0
    return _finish(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), img)


def adjust_gamma(img: np.ndarray, gamma: float, gain: float = 1.0) -> np.ndarray:
    """``gain * x ** gamma`` on intensities scaled to [0, 1] (gamma > 1 darkens)."""
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    if img.dtype == np.uint8:
        table = 255.0 * gain * (np.arange(256, dtype=np.float32) / 255.0) ** gamma
        return _finish(table, img)[img]
    return _finish(gain * np.clip(img.astype(np.float32), 0, 1) ** gamma, img)


def gaussian_blur(img: np.ndarray, kernel_size: int, sigma: float = 0.0) -> np.ndarray:
    """Gaussian blur with an odd square kernel; ``sigma=0`` derives it from the size."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"gaussian_blur: kernel_size must be odd and positive, got {kernel_size}")
    out = cv2.GaussianBlur(img, (int(kernel_size), int(kernel_size)), sigma)
    return _keep_channels(out, img)

