"""Deterministic geometry for the spatial transforms: flips, warps, padding, matrices.

Matrices are 3 x 3 and act on **continuous** coordinates (pixel ``(i, j)`` covers
``[j, j+1) x [i, i+1)``, see :mod:`engine.transforms.fields`): a point ``p`` goes to
``M @ [x, y, 1]``. :func:`warp` turns such a matrix into OpenCV's pixel-index form
(centres at integers) so that images, masks, boxes and points stay registered. Images
go through one ``cv2.warpAffine`` / ``cv2.warpPerspective`` call each; label maps use
nearest neighbour and a dtype OpenCV can warp exactly, so no label is ever invented.
"""
import math
from typing import Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    "cv2_safe",
    "flip_image",
    "resize_nearest",
    "warp",
    "pad_border",
    "rotation_matrix",
    "scaling_matrix",
    "shear_matrix",
    "translation_matrix",
    "transform_points",
    "transform_bboxes",
    "box_filter",
    "find_inside_bboxes",
    "find_inside_pts",
]

_CV2_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.float32, np.float64)}
_FLIP_CODES = {"horizontal": 1, "vertical": 0, "diagonal": -1}


def cv2_safe(img: np.ndarray, is_mask: bool = False):
    """``(array OpenCV can process, function to restore the original dtype)``.

    int32/int64/bool label maps are carried as float64 (exact below 2**53): OpenCV's
    warps have no 64-bit integer path, and an int32 warp is not supported everywhere."""
    if img.dtype in _CV2_DTYPES:
        return img, lambda out: out
    dtype = img.dtype
    return img.astype(np.float64), lambda out: out.astype(dtype)


def _keep_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def flip_image(img: np.ndarray, direction: str) -> np.ndarray:
    """``cv2.flip`` (one pass, contiguous output); numpy for dtypes OpenCV lacks."""
    code = _FLIP_CODES[direction]
    if img.dtype in _CV2_DTYPES or img.dtype == np.int32:
        return _keep_channels(cv2.flip(img, code), img)
    view = {1: img[:, ::-1], 0: img[::-1], -1: img[::-1, ::-1]}[code]
    return np.ascontiguousarray(view)


def _centres(src: int, dst: int) -> np.ndarray:
    """``floor((i + 0.5) * src / dst)``: the source pixel under output pixel ``i``'s centre."""
    return np.minimum(((np.arange(dst) + 0.5) * (src / dst)).astype(np.intp), src - 1)


def _nearest_index(src: int, dst: int):
    """:func:`_centres`, or a slice when ``dst`` divides ``src`` (every ``k``-th pixel
    from ``k // 2``: the same pixels, taken as a strided copy instead of a gather)."""
    if src % dst == 0:
        k = src // dst
        return slice(k // 2, None, k)
    return _centres(src, dst)


_EXACT_NN = {}  # (src, dst) -> whether INTER_NEAREST_EXACT takes exactly _centres(src, dst)
_NN_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32,
                                    np.float32, np.float64)}  # int64 comes back int32


def _cv2_takes_centres(src: int, dst: int) -> bool:
    """Whether OpenCV's bit-exact nearest resize picks the centre pixels along an axis of
    ``src -> dst`` pixels: asked once per pair by resizing the row ``0, 1, ..., src - 1``.
    Its 16-bit fixed-point step misses by one for about a fifth of the pairs, which
    then keep the gathers."""
    found = _EXACT_NN.get((src, dst))
    if found is None:
        probe = np.arange(src, dtype=np.int32)[None, :]
        taken = cv2.resize(probe, (dst, 1), interpolation=cv2.INTER_NEAREST_EXACT)
        if len(_EXACT_NN) >= 4096:
            _EXACT_NN.clear()
        found = _EXACT_NN[(src, dst)] = bool(np.array_equal(taken[0], _centres(src, dst)))
    return found


def resize_nearest(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map (any dtype) to ``size = (h, w)``: output
    pixel ``i`` takes source pixel ``floor((i + 0.5) * src / dst)``, the pixel under its
    centre (the alignment of ``F.resize_mask`` and cv2's linear resize).

    The fastest exact way available: strided copies where the size divides (2x faster
    than cv2's nearest resize), else ``cv2.resize(INTER_NEAREST_EXACT)`` where it is
    known to take these pixels (:func:`_cv2_takes_centres`; 3-4x faster than numpy),
    else two row/column gathers (6x faster than one 2-D fancy index)."""
    h, w = mask.shape[:2]
    nh, nw = int(size[0]), int(size[1])
    rows, cols = _nearest_index(h, nh), _nearest_index(w, nw)
    if (type(rows) is not slice or type(cols) is not slice) and mask.dtype in _NN_DTYPES \
            and (mask.ndim == 2 or mask.shape[2] <= 4) \
            and _cv2_takes_centres(h, nh) and _cv2_takes_centres(w, nw):
        return _keep_channels(cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_NEAREST_EXACT),
                              mask)
    return np.ascontiguousarray(mask[rows][:, cols])


def _fill(value, channels: int):
    if isinstance(value, (list, tuple, np.ndarray)):
        vals = [float(v) for v in value]
        return tuple((vals * 4)[:4]) if len(vals) == 1 else tuple(vals + [0.0] * (4 - len(vals)))
    return (float(value),) * 4


_HALF = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], np.float64)  # centres -> indices
_HALF_INV = np.linalg.inv(_HALF)  # once, not per call (8 us each; issue 23)


def _is_affine(matrix: np.ndarray) -> bool:
    """``np.allclose(matrix[2], [0, 0, 1])``, spelled out: allclose costs 18 us a call."""
    a, b, c = (float(v) for v in matrix[2])
    return abs(a) <= 1e-8 and abs(b) <= 1e-8 and abs(c - 1.0) <= 1e-8 + 1e-5


def warp(img: np.ndarray, matrix: np.ndarray, out_shape: Tuple[int, int], flag: int,
         fill=0, is_mask: bool = False) -> np.ndarray:
    """Resample ``img`` so that output point ``matrix @ p`` shows input point ``p``.

    ``matrix`` is 3 x 3 in continuous coordinates; an affine one (last row 0, 0, 1) uses
    ``warpAffine``, otherwise ``warpPerspective``. Masks always use nearest neighbour.
    Images with more than 4 channels are warped in groups of 4 (OpenCV's limit for
    the border value)."""
    h, w = int(out_shape[0]), int(out_shape[1])
    to_index = _HALF_INV @ np.asarray(matrix, np.float64) @ _HALF
    flag = cv2.INTER_NEAREST if is_mask else flag
    src, restore = cv2_safe(img, is_mask)
    channels = 1 if src.ndim == 2 else src.shape[2]
    if channels > 4:
        fills = list(fill) if isinstance(fill, (list, tuple, np.ndarray)) else [fill] * channels
        parts = [warp(src[:, :, c:c + 4], matrix, out_shape, flag, fills[c:c + 4], is_mask)
                 for c in range(0, channels, 4)]
        return restore(np.concatenate(parts, axis=2))
    border = _fill(fill, channels)
    if _is_affine(to_index):
        out = cv2.warpAffine(src, to_index[:2], (w, h), flags=flag,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    else:
        out = cv2.warpPerspective(src, to_index, (w, h), flags=flag,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return restore(_keep_channels(out, img))


def pad_border(img: np.ndarray, top: int, bottom: int, left: int, right: int, fill=0) -> np.ndarray:
    """``cv2.copyMakeBorder`` with a constant ``fill`` (a number or one per channel)."""
    if not (top or bottom or left or right):
        return img
    src, restore = cv2_safe(img)
    channels = 1 if src.ndim == 2 else src.shape[2]
    if channels > 4:
        out = np.empty((src.shape[0] + top + bottom, src.shape[1] + left + right, channels), src.dtype)
        out[...] = fill
        out[top:top + src.shape[0], left:left + src.shape[1]] = src
        return restore(out)
    out = cv2.copyMakeBorder(src, int(top), int(bottom), int(left), int(right),
                             cv2.BORDER_CONSTANT, value=_fill(fill, channels))
    return restore(_keep_channels(out, img))


# ------------------------------------------------------------------ matrices


def rotation_matrix(degrees: float, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """Rotation about ``(cx, cy)``; positive degrees turn clockwise on screen (y points
    down), the seed's convention."""
    r = math.radians(degrees)
    c, s = math.cos(r), math.sin(r)
    return np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1]])


def scaling_matrix(sx: float, sy: float = None) -> np.ndarray:
    return np.diag([sx, sx if sy is None else sy, 1.0])


def shear_matrix(x_degrees: float, y_degrees: float) -> np.ndarray:
    return np.array([[1, math.tan(math.radians(x_degrees)), 0],
                     [math.tan(math.radians(y_degrees)), 1, 0], [0, 0, 1]])


def translation_matrix(tx: float, ty: float) -> np.ndarray:
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


# ------------------------------------------------------------------ coordinates


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Points (N x 2+, extra columns kept) mapped by ``matrix`` (projective divide)."""
    out = np.array(points, dtype=np.float32, copy=True)
    if len(out) == 0:
        return out
    xy1 = np.concatenate([out[:, :2].astype(np.float64), np.ones((len(out), 1))], axis=1)
    mapped = xy1 @ np.asarray(matrix, np.float64).T
    out[:, :2] = mapped[:, :2] / mapped[:, 2:3]
    return out


def transform_bboxes(bboxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Boxes (N x 4+) replaced by the axis-aligned envelope of their mapped corners."""
    out = np.array(bboxes, dtype=np.float32, copy=True)
    if len(out) == 0:
        return out
    corners = out[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 2)
    mapped = transform_points(corners, matrix).reshape(-1, 4, 2)
    out[:, 0:2] = mapped.min(axis=1)
    out[:, 2:4] = mapped.max(axis=1)
    return out


def box_filter(before: np.ndarray, after: np.ndarray, area_scale: float = 1.0,
               min_bbox_size: float = 0.0, min_area_ratio: float = 0.0,
               max_aspect_ratio: float = float("inf")) -> np.ndarray:
    """Which boxes to keep after a warp (mmdet's rule): both sides larger than
    ``min_bbox_size``, area at least ``min_area_ratio`` of the original area times
    ``area_scale`` (the warp's own area change), and ``max(w/h, h/w)`` below
    ``max_aspect_ratio``."""
    w0, h0 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w1, h1 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    aspect = np.maximum(w1 / (h1 + 1e-16), h1 / (w1 + 1e-16))
    area_ok = w1 * h1 >= min_area_ratio * w0 * h0 * area_scale
    return (w1 > min_bbox_size) & (h1 > min_bbox_size) & area_ok & (aspect < max_aspect_ratio)


def corners_of(shape: Sequence[int]) -> np.ndarray:
    """The 4 corners ``(x, y)`` of an image of ``shape = (h, w)``, clockwise from top-left."""
    h, w = shape[:2]
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)


def find_inside_bboxes(bboxes, img_h: int, img_w: int):
    """Which boxes (N x 4+, numpy or torch) still show some area of an ``img_h x img_w``
    image, as a bool mask: the rows to keep after a crop or a shift."""
    return (bboxes[:, 0] < img_w) & (bboxes[:, 2] > 0) & (bboxes[:, 1] < img_h) & (bboxes[:, 3] > 0)


def find_inside_pts(pts, img_h: int, img_w: int):
    """Which points (N x 2+) lie strictly inside the image, as a bool mask. Strict at
    both ends on purpose: a point clipped onto the border (0 or the width) was outside."""
    return (pts[:, 0] < img_w) & (pts[:, 0] > 0) & (pts[:, 1] < img_h) & (pts[:, 1] > 0)
