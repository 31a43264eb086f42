"""The 256-entry tables of the non-linear ``uint8`` point ops, and how they are applied.

A point op on a ``uint8`` image maps each of the 256 levels the same way wherever it
occurs, so gamma and the tone curve are one table built per call (256 values, a few
microseconds) and one lookup pass over the image. The table is the float formula
evaluated in float64 at the 256 levels and rounded half to even (``np.rint``), so the
table path gives, pixel for pixel, the rounded float formula (up to float64 error at
exact half-way values; tests/transforms/test_transforms_lut.py).

Why StringZilla's ``translate`` applies a ``uint8 -> uint8`` table (measured on one
thread, 480x640x3, the 2-core AVX2 machine of doc/benchmarks.md): its SIMD byte lookup
writes a new buffer in ~140 us, against ~370 us for ``cv2.LUT`` (a scalar loop, whatever
the layout), ~180 us for albucore's way (copy, then translate in place), 870 us for
``np.take(table, img)`` (it widens the indices to intp first), 1.9 ms for ``table[img]``
and 630 us for ``bytes.translate``; numpy, OpenCV and torch have no SIMD byte lookup.
It gives the same bytes as ``cv2.LUT`` (tested). Tables of another dtype or one per channel
still go through ``cv2.LUT``.

Linear point ops (brightness, contrast) are tables too (``functional_color.linear``):
the lookup beats OpenCV's one ``alpha * x + beta`` pass by 20-40 %.
"""
import cv2
import numpy as np
import stringzilla

__all__ = ["apply_lut", "translate_u8", "to_table", "gamma_table", "tone_curve_table"]

#: The 256 levels as float64 intensities in [0, 1].
_T = np.arange(256, dtype=np.float64) / 255.0
#: 255 times the cubic Bernstein basis polynomials at each level, rows b1, b2, b3 (b0
#: multiplies the control point at 0). The tone curve's table is one dot product with
#: them: ``(low_y, high_y, 1) @ _BEZIER``, where evaluating the whole formula costs
#: ~30 us per call.
_BEZIER = 255.0 * np.stack([3 * (1 - _T) ** 2 * _T, 3 * (1 - _T) * _T ** 2, _T ** 3])
_BEZIER.setflags(write=False)
#: ``log(level / 255)`` (``-inf`` at 0): the gamma table is ``exp(gamma * _LOG_T)``,
#: numpy's vectorised ``exp`` (~3 us) where ``np.power`` calls libm's ``pow`` per level.
with np.errstate(divide="ignore"):
    _LOG_T = np.log(_T)
_LOG_T.setflags(write=False)


def to_table(values: np.ndarray) -> np.ndarray:
    """A float curve over the 256 levels -> a ``uint8`` table, rounded half to even and
    saturated: ``np.clip(np.rint(values), 0, 255)``. Negative values are set to 0 first,
    so ``convertScaleAbs``'s absolute value changes nothing; it rounds and saturates in
    one call (2 us against 8 for ``np.clip``, ``np.rint``, ``astype``)."""
    return cv2.convertScaleAbs(np.maximum(values, 0.0)).reshape(256)


def apply_lut(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[img]`` for a ``uint8`` image in one pass (any channel count), as a new
    C-contiguous array; ``img`` is never written to.

    ``table`` holds 256 entries (one table for every channel) or 256 x C (one per channel);
    its dtype is the output's, so a float32 table maps straight to float32. A single
    ``uint8`` table goes through :func:`translate_u8`; the others through ``cv2.LUT``.
    """
    if img.dtype == np.uint8 and table.dtype == np.uint8 and table.size == 256:
        return translate_u8(img, table)
    if table.ndim == 2:
        table = table.reshape(256, 1, table.shape[1])
    out = cv2.LUT(img, table)
    if img.ndim == 3 and out.ndim == 2:  # OpenCV drops a trailing channel axis of size 1
        out = out[:, :, None]
    return out


def translate_u8(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[img]`` for a ``uint8`` image and a 256-entry ``uint8`` table with
    StringZilla's SIMD ``translate``: the same bytes as ``cv2.LUT``, about 2.5x faster.

    ``translate`` reads and writes flat byte buffers. A C-contiguous image is read in place
    and written into a new array (one pass: the fastest form); any other layout is first
    copied to a contiguous array, which, being ours, is then translated in place.
    """
    lut = memoryview(np.ascontiguousarray(table, dtype=np.uint8).reshape(256))
    if img.flags.c_contiguous:
        out = np.empty(img.shape, np.uint8)
        stringzilla.translate(memoryview(img), lut, out=memoryview(out))
    else:
        out = np.ascontiguousarray(img)
        stringzilla.translate(memoryview(out), lut, inplace=True)
    return out


def gamma_table(gamma: float, gain: float = 1.0) -> np.ndarray:
    """``round(255 * gain * (level / 255) ** gamma)`` for the 256 levels (``gamma > 0``)."""
    return to_table((255.0 * float(gain)) * np.exp(float(gamma) * _LOG_T))


def tone_curve_table(low_y: float, high_y: float) -> np.ndarray:
    """The cubic Bezier through ``(0, 0), (1/3, low_y), (2/3, high_y), (1, 1)`` at the 256
    levels, times 255 and rounded."""
    return to_table(np.dot((float(low_y), float(high_y), 1.0), _BEZIER))
