"""Colour operations on numpy images, built for speed: one OpenCV pass where possible.

Augmentation runs on every sample of every epoch, so these avoid float round trips on
``uint8`` images: a point operation (brightness, contrast, brightness/contrast, gamma,
tone curve, the hue shift) is a 256-entry table built once per call and applied
in a single pass (:func:`engine.transforms.functional_lut.apply_lut`); everything
else is one or two OpenCV calls. Inputs are never modified.

Conventions (those of :mod:`engine.transforms.functional`, which re-exports these):
``uint8`` in gives ``uint8`` out, saturated rather than wrapped; float images are taken
to be in [0, 1] and are clipped to it. Operations that need colour (saturation, hue, grey,
CLAHE in Lab) assume RGB order and three channels; a one-channel image is handled as grey.
"""
import functools

import cv2
import numpy as np
import torch

from .functional_lut import apply_lut, gamma_table, tone_curve_table, translate_u8

__all__ = [
    "apply_lut",
    "linear",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "adjust_gamma",
    "brightness_contrast",
    "move_tone_curve",
    "to_gray",
    "clahe",
    "image_compression",
    "sharpen",
    "add_noise",
    "normalize",
    "denormalize",
]

_LEVELS_U8 = np.arange(256, dtype=np.uint8).reshape(1, 256)
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601, the weights of cv2.COLOR_RGB2GRAY


def _is_rgb(img: np.ndarray) -> bool:
    return img.ndim == 3 and img.shape[2] == 3


def _keep_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    if like.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def _float(img: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0.0, 1.0).astype(img.dtype, copy=False)


def _gray_mean(img: np.ndarray) -> float:
    """The mean of the image's grey version, without making it (grey is linear in RGB)."""
    means = cv2.mean(img)
    if _is_rgb(img):
        return float(sum(w * m for w, m in zip(_GRAY_WEIGHTS, means)))
    channels = img.shape[2] if img.ndim == 3 else 1
    return float(sum(means[:min(channels, 4)]) / min(channels, 4))


def linear(img: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """``alpha * x + beta``, rounded and saturated for ``uint8``.

    On ``uint8`` a point operation is a 256-entry table: ``cv2.addWeighted`` evaluates
    the formula at the 256 levels (1-3 us) and StringZilla's lookup applies it
    (:func:`~engine.transforms.functional_lut.translate_u8`), the same bytes as
    ``addWeighted`` over the whole image, 20-40 % faster than ``convertScaleAbs`` /
    ``addWeighted`` there (145-195 against 185-250 us for 480x640 RGB on one thread,
    doc/benchmarks.md)."""
    if img.dtype != np.uint8:
        return _float(img, img * np.float32(alpha) + np.float32(beta))
    table = cv2.addWeighted(_LEVELS_U8, float(alpha), _LEVELS_U8, 0.0, float(beta))
    return translate_u8(img, table)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """Multiply by ``factor`` (1 keeps the image, 0 gives black)."""
    return linear(img, factor, 0.0)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the mean grey level (1 keeps the image, 0 gives flat grey)."""
    return linear(img, factor, _gray_mean(img) * (1.0 - factor))


def to_gray(img: np.ndarray) -> np.ndarray:
    """RGB -> grey, kept as three equal channels (so the rest of the pipeline is unchanged).
    A one-channel image is returned as a copy."""
    if not _is_rgb(img):
        return img.copy()
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def adjust_saturation(img: np.ndarray, factor: float, gamma: float = 0.0) -> np.ndarray:
    """Blend an RGB image with its greyscale (1 keeps it, 0 gives grey), plus ``gamma`` (an
    offset in the image's units, the seed's argument); other images are copied."""
    if not _is_rgb(img):
        return img.copy()
    out = cv2.addWeighted(img, float(factor), to_gray(img), 1.0 - float(factor), float(gamma))
    return out if img.dtype == np.uint8 else _float(img, out)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue of an RGB image by ``factor`` turns (periodic: 1.5 is 0.5)."""
    if not _is_rgb(img) or factor % 1 == 0:
        return img.copy()
    if img.dtype == np.uint8:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)  # hue in 0..255 for a full turn
        # Only the hue channel changes: its table alone (copied out, translated, written
        # back: ~300 us on 480x640) rather than cv2.LUT with a 256 x 3 table (~850 us).
        hue = ((np.arange(256) + int(round(factor * 256))) % 256).astype(np.uint8)
        hsv[:, :, 0] = apply_lut(hsv[:, :, 0], hue)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    hsv = cv2.cvtColor(np.clip(img, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)  # degrees
    hsv[:, :, 0] = (hsv[:, :, 0] + factor * 360.0) % 360.0
    return _float(img, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def adjust_gamma(img: np.ndarray, gamma: float, gain: float = 1.0) -> np.ndarray:
    """``gain * x ** gamma`` on intensities scaled to [0, 1] (gamma > 1 darkens)."""
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    if img.dtype == np.uint8:
        return apply_lut(img, gamma_table(gamma, gain))
    return _float(img, gain * np.clip(img, 0, 1) ** np.float32(gamma))


def brightness_contrast(img: np.ndarray, alpha: float, beta: float, beta_by_max=True):
    """``alpha * x + beta * M``: ``alpha`` scales contrast, ``beta`` shifts brightness by a
    fraction of ``M``, the dtype's maximum (255, or 1 for floats) when ``beta_by_max``,
    else ``alpha`` times the image's mean (the seed's and albumentations' rule)."""
    if beta_by_max:
        shift = beta * (255.0 if img.dtype == np.uint8 else 1.0)
    else:
        means = cv2.mean(img)
        channels = min(img.shape[2] if img.ndim == 3 else 1, 4)
        shift = alpha * beta * sum(means[:channels]) / channels
    return linear(img, alpha, shift)


def move_tone_curve(img: np.ndarray, low_y: float, high_y: float) -> np.ndarray:
    """Remap intensities through the cubic Bezier curve with control points
    ``(0, 0), (1/3, low_y), (2/3, high_y), (1, 1)`` (``low_y, high_y`` in [0, 1]): lifting
    ``low_y`` brightens the shadows, lowering ``high_y`` darkens the highlights."""
    for name, v in (("low_y", low_y), ("high_y", high_y)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"move_tone_curve: {name} must be in [0, 1], got {v}")

    if img.dtype == np.uint8:
        return apply_lut(img, tone_curve_table(low_y, high_y))
    t = np.clip(img, 0, 1)
    return _float(img, 3 * (1 - t) ** 2 * t * low_y + 3 * (1 - t) * t ** 2 * high_y + t ** 3)


_CLAHE_CACHE = {}


def clahe(img: np.ndarray, clip_limit: float = 2.0, tile_grid_size=(8, 8)) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of a ``uint8`` image: on the grey
    levels of a one-channel image, on the lightness (Lab L) of an RGB one."""
    if img.dtype != np.uint8:
        raise TypeError(f"clahe needs a uint8 image, got {img.dtype}")
    grid = (int(tile_grid_size[0]), int(tile_grid_size[1]))
    op = _CLAHE_CACHE.get(grid)
    if op is None:
        op = _CLAHE_CACHE[grid] = cv2.createCLAHE(tileGridSize=grid)
    op.setClipLimit(float(clip_limit))
    if not _is_rgb(img):
        return _keep_channels(op.apply(img.reshape(img.shape[:2])), img)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    cv2.insertChannel(op.apply(cv2.extractChannel(lab, 0)), lab, 0)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def image_compression(img: np.ndarray, quality: int, image_type: str = ".jpg") -> np.ndarray:
    """Encode with ``image_type`` (``.jpg``/``.jpeg``/``.webp``) at ``quality`` and decode,
    leaving the compression artefacts. Channels are encoded in the order given (as
    albumentations does); float images go through uint8."""
    flags = {".jpg": cv2.IMWRITE_JPEG_QUALITY, ".jpeg": cv2.IMWRITE_JPEG_QUALITY,
             ".webp": cv2.IMWRITE_WEBP_QUALITY}
    if image_type not in flags:
        raise ValueError(f"image_compression: unknown image_type {image_type!r}; "
                         f"expected one of {sorted(flags)}")
    src = img if img.dtype == np.uint8 else np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(image_type, src, (int(flags[image_type]), int(quality)))
    if not ok:
        raise ValueError(f"image_compression: OpenCV could not encode a {src.shape} image "
                         f"as {image_type}")
    out = _keep_channels(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), img)
    return out if img.dtype == np.uint8 else (out / np.float32(255)).astype(img.dtype)


def sharpen(img: np.ndarray, alpha: float, lightness: float) -> np.ndarray:
    """Blend the image with its 3x3 Laplacian-sharpened version: ``alpha`` is the weight of
    the sharpened image (0 keeps the image), ``lightness`` the centre weight's excess over
    8 (1 keeps the mean brightness)."""
    kernel = np.full((3, 3), -alpha, np.float32)
    kernel[1, 1] = (1 - alpha) + alpha * (8 + lightness)
    out = _keep_channels(cv2.filter2D(img, -1, kernel), img)
    return out if img.dtype == np.uint8 else _float(img, out)


def add_noise(img: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``img + noise`` (noise in the image's units: 0..255 for uint8, 0..1 for floats),
    saturated. ``noise`` is float32 with the image's shape, or H x W x 1 for grey noise."""
    if img.dtype == np.uint8:
        if noise.ndim == 3 and noise.shape[2] == 1 and img.ndim == 3 and img.shape[2] > 1:
            noise = np.broadcast_to(noise, img.shape)
        out = cv2.add(img, noise, dtype=cv2.CV_8U)
        return _keep_channels(out, img)
    return _float(img, img + noise)


@functools.lru_cache(maxsize=64)
def _normalize_rows(mean: tuple, std: tuple, channels: int, width: int) -> tuple:
    """``mean`` and ``std`` tiled across one image row (``width`` pixels of ``channels``)
    as float32 tensors (cached: a pipeline normalises every sample with the same
    statistics and, mostly, the same width)."""
    def row(values):
        per_channel = np.broadcast_to(np.asarray(values, np.float32), (channels,))
        return torch.from_numpy(np.tile(per_channel, width))

    return row(mean), row(std)


def normalize(img: np.ndarray, mean, std, to_rgb: bool = False) -> np.ndarray:
    """``(img - mean) / std`` per channel, as float32; ``to_rgb`` swaps BGR to RGB first.

    Computed as the float32 subtraction, then the float32 division (each correctly
    rounded), which are the operations of the device-side normalisation
    (engine/data/device_batches.py): both give the same bits. The image is taken as rows
    of ``width x channels`` values, each normalised against the statistics tiled across
    one row, in torch: with a 3-value channel axis neither numpy (5 ms a 480x640 image)
    nor torch (2.3 ms) vectorises the broadcast, and ``cv2.LUT`` with a float table per
    channel gathers in 0.9 ms; row by row it is 0.36 ms (doc/benchmarks.md, issue 23).
    """
    img = np.asarray(img)
    channels = img.shape[2] if img.ndim == 3 else 1
    mean = tuple(float(v) for v in np.reshape(mean, -1))
    std = tuple(float(v) for v in np.reshape(std, -1))
    for name, value in (("mean", mean), ("std", std)):
        if len(value) not in (1, channels):
            raise ValueError(
                f"normalize: {name} has {len(value)} values but the image has "
                f"{channels} channel(s)"
            )
    if to_rgb and channels == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.dtype == np.uint8 else img[:, :, ::-1]
    if img.dtype != np.uint8:
        img = img.astype(np.float32, order="C")  # the one copy, then normalised in place
    elif not (img.flags.c_contiguous and img.flags.writeable):
        img = np.array(img, order="C")  # torch warns on a read-only array (np.asarray(PIL image))
    h, w = img.shape[:2] if img.ndim >= 2 else (1, img.size)
    mean_row, std_row = _normalize_rows(mean, std, channels, w)
    out = torch.from_numpy(img).reshape(h, w * channels).to(torch.float32)  # uint8: a new tensor
    out.sub_(mean_row).div_(std_row)
    return out.numpy().reshape(img.shape)


def denormalize(img: np.ndarray, mean, std) -> np.ndarray:
    """``img * std + mean`` per channel as a new float32 array: the inverse of
    :func:`normalize`, for showing or saving what the network saw."""
    out = np.array(img, dtype=np.float32)
    shape = (1, 1, -1) if out.ndim == 3 else (-1,)
    out *= np.asarray(std, np.float32).reshape(shape)
    out += np.asarray(mean, np.float32).reshape(shape)
    return out
