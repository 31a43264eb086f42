"""Value ranges and channel layouts: converting between integer and [0, 1] float images.

Pixel operations written for one dtype (a LUT for ``uint8``, a formula for floats) need
to know an image's full-scale value and whether it is grey, RGB or RGBA; these helpers
answer that one way for everybody.
"""
import numpy as np

__all__ = [
    "MAX_VALUES_BY_DTYPE",
    "clip",
    "to_float",
    "from_float",
    "is_grayscale_image",
    "is_rgb_image",
    "is_rgba_image",
]

#: Full scale per dtype: white is this value (floats: 1.0).
MAX_VALUES_BY_DTYPE = {
    np.dtype("uint8"): 255,
    np.dtype("uint16"): 65535,
    np.dtype("uint32"): 4294967295,
    np.dtype("float32"): 1.0,
}


def _max_value(dtype, max_value):
    if max_value is not None:
        return max_value
    try:
        return MAX_VALUES_BY_DTYPE[np.dtype(dtype)]
    except KeyError:
        raise RuntimeError(
            f"cannot tell the full-scale value of dtype {np.dtype(dtype)}; pass max_value"
        ) from None


def clip(img: np.ndarray, dtype, maxval: float) -> np.ndarray:
    """Values clipped to ``[0, maxval]``, cast to ``dtype``."""
    return np.clip(img, 0, maxval).astype(dtype)


def to_float(img: np.ndarray, max_value: float = None) -> np.ndarray:
    """float32 in [0, 1]: divided by the dtype's full scale (or ``max_value``)."""
    return img.astype(np.float32) / np.float32(_max_value(img.dtype, max_value))


def from_float(img: np.ndarray, dtype, max_value: float = None) -> np.ndarray:
    """The inverse of :func:`to_float`: times full scale, cast to ``dtype``. Integer
    dtypes are rounded and saturated, so ``from_float(to_float(x))`` is ``x`` and a value
    slightly outside [0, 1] cannot wrap around (-0.01 would become 253 in ``uint8``)."""
    dtype = np.dtype(dtype)
    out = np.asarray(img, np.float64) * _max_value(dtype, max_value)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(dtype)


def is_grayscale_image(image: np.ndarray) -> bool:
    return image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 1)


def is_rgb_image(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[-1] == 3


def is_rgba_image(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[-1] == 4
