"""Warping transforms: the seed's RandomAffine, plus RandomRotate and RandomPerspective.

Each draws one 3 x 3 matrix per sample (continuous coordinates, see
:mod:`engine.transforms.functional_spatial`) and applies it to every field at once:
images through one ``cv2.warpAffine``/``warpPerspective`` call each, masks with nearest
neighbour, points exactly, boxes as the envelope of their mapped corners. Boxes that
leave the image or fail the size / area / aspect thresholds are removed with their
``bbox_label_fields`` rows; points keep their rows (a keypoint's index is its identity)
and are clipped with ``clip_border``.

Where the seed scales about the top-left corner and keeps an enlarged canvas
(``border_ratio``) anchored there, these warp about the image centre and centre the
canvas, so an object in the middle stays in the middle.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from . import functional as F
from . import functional_spatial as S
from .base import BaseTransform, as_rng, check_prob, check_range, uniform
from .build import TRANSFORM_REGISTRY
from .field_roles import interpolation_arg, take_interpolation
from .fields import (
    as_float_array,
    bbox_keys,
    clip_points,
    fill_value,
    geometric_keys,
    image_shape,
    interpolation_of,
    map_points,
    settle_bboxes,
)

__all__ = ["RandomAffine", "RandomRotate", "RandomPerspective", "warp_results"]


def warp_results(results: dict, matrix: np.ndarray, out_shape, flag: int, border_val=114,
                 mask_border_val=0, clip_border: bool = True, keep_fn=None) -> dict:
    """Warp every field by ``matrix`` onto an ``out_shape = (h, w)`` canvas."""
    flag = take_interpolation(results, flag)
    for key, is_mask in geometric_keys(results):
        fill = fill_value(results, key, mask_border_val if is_mask else border_val)
        key_flag = flag if is_mask else F.interpolation_flag(interpolation_of(results, key, flag))
        results[key] = S.warp(results[key], matrix, out_shape, key_flag, fill, is_mask)
    results["img_shape"] = tuple(int(v) for v in out_shape)
    originals = {}
    for key in bbox_keys(results):
        originals[key] = as_float_array(results[key], 4, key)
        results[key] = S.transform_bboxes(originals[key], matrix)
    map_points(results, lambda p: clip_points(S.transform_points(p, matrix), out_shape)
               if clip_border else S.transform_points(p, matrix))
    settle_bboxes(results, out_shape, clip_border,
                  None if keep_fn is None else lambda key, boxes: keep_fn(originals[key], boxes))
    results["warp_matrix"] = np.asarray(matrix, np.float32) @ np.asarray(
        results.get("warp_matrix", _EYE), np.float32)
    return results


_EYE = np.eye(3)


def _number(owner, name, value, low=None, high=None):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        where = f" in [{low}, {high}]" if high is not None else (f" >= {low}" if low is not None else "")
        raise ConfigError(f"{owner}: {name} must be a number{where}, got {value!r}")
    return float(value)


def _flag(owner, interpolation):
    return interpolation_arg(owner, interpolation, single=True)[0]


def _degree_choices(owner, rotate_degree_range, rotate_range, max_rotate_degree):
    if max_rotate_degree is not None:
        limit = _number(owner, "max_rotate_degree", max_rotate_degree, 0)
        return (-limit, limit), True
    if rotate_range:
        return check_range(owner, "rotate_degree_range (with rotate_range=True)",
                           rotate_degree_range), True
    values = [rotate_degree_range] if isinstance(rotate_degree_range, numbers.Real) \
        else rotate_degree_range
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{owner}: rotate_degree_range must be a number or a list of "
                          f"angles to choose from, got {rotate_degree_range!r}")
    return tuple(_number(owner, "rotate_degree_range", v) for v in values), False


@TRANSFORM_REGISTRY.register()
class RandomAffine(BaseTransform):
    """With probability ``p``: rotate, scale, shear and translate (the seed's / mmdet's
    random affine), on a canvas ``border_ratio`` times the input size.

    - angle: uniform in ``rotate_degree_range`` when ``rotate_range`` (a pair), else one
      of its values; ``max_rotate_degree=a`` (the seed page's config spelling) means
      ``rotate_degree_range=(-a, a), rotate_range=True``.
    - scale uniform in ``scaling_ratio_range``; shear angles uniform in
      ``±max_shear_degree``; shift uniform in ``±max_translate_ratio`` of each side.
    - boxes: removed when a side is ``<= min_bbox_size``, the area falls below
      ``min_area_ratio`` of the scaled original, or ``max(w/h, h/w) >= max_aspect_ratio``.
    Records ``warp_matrix`` (3 x 3, continuous coordinates, composed over warps).
    """

    def __init__(self, rotate_degree_range=(-10, 10), rotate_range=True, max_translate_ratio=0.0,
                 scaling_ratio_range=(1.0, 1.0), max_shear_degree=0.0, p=1.0, border_val=114,
                 clip_border=True, min_bbox_size=2, min_area_ratio=0.2, max_aspect_ratio=20,
                 border_ratio=1.2, interpolation="INTER_LINEAR", max_rotate_degree=None,
                 mask_border_val=0):
        name = type(self).__name__
        self._degrees, self._uniform = _degree_choices(
            name, rotate_degree_range, rotate_range, max_rotate_degree)
        self.rotate_degree_range, self.rotate_range = rotate_degree_range, bool(rotate_range)
        self.max_rotate_degree = max_rotate_degree
        self.max_translate_ratio = _number(name, "max_translate_ratio", max_translate_ratio, 0, 1)
        self.scaling_ratio_range = check_range(name, "scaling_ratio_range", scaling_ratio_range,
                                               low=1e-6)
        self.max_shear_degree = _number(name, "max_shear_degree", max_shear_degree, 0, 89)
        self.p = check_prob(name, "p", p)
        self.border_val, self.mask_border_val = border_val, mask_border_val
        self.clip_border = bool(clip_border)
        self.min_bbox_size = _number(name, "min_bbox_size", min_bbox_size, 0)
        self.min_area_ratio = _number(name, "min_area_ratio", min_area_ratio, 0)
        self.max_aspect_ratio = _number(name, "max_aspect_ratio", max_aspect_ratio, 1)
        self.border_ratio = max(1.0, _number(name, "border_ratio", border_ratio, 0))
        self.interpolation = interpolation
        self._flag = _flag(name, interpolation)

    def draw(self, shape, rng):
        """``(matrix, output shape, scale)`` for an image of ``shape``."""
        h, w = shape
        oh, ow = int(h * self.border_ratio), int(w * self.border_ratio)
        if self._uniform:
            degree = uniform(rng, *self._degrees)
        else:
            degree = self._degrees[int(rng.integers(len(self._degrees)))]
        scale = uniform(rng, *self.scaling_ratio_range)
        shear = rng.uniform(-self.max_shear_degree, self.max_shear_degree, size=2)
        shift = rng.uniform(-self.max_translate_ratio, self.max_translate_ratio, size=2) * (w, h)
        matrix = (S.translation_matrix(ow / 2 + shift[0], oh / 2 + shift[1])
                  @ S.shear_matrix(*shear) @ S.rotation_matrix(degree)
                  @ S.scaling_matrix(scale) @ S.translation_matrix(-w / 2, -h / 2))
        return matrix, (oh, ow), scale

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        matrix, out_shape, scale = self.draw(image_shape(results), rng)

        def keep(before, after):
            return S.box_filter(before, after, scale * scale, self.min_bbox_size,
                                self.min_area_ratio, self.max_aspect_ratio)

        return warp_results(results, matrix, out_shape, self._flag, self.border_val,
                            self.mask_border_val, self.clip_border, keep)


@TRANSFORM_REGISTRY.register()
class RandomRotate(BaseTransform):
    """With probability ``p``, rotate about the centre by an angle uniform in
    ``degrees = [min, max]`` (or ``±degrees``). ``expand=True`` grows the canvas to hold
    the whole rotated image; otherwise the size is kept and corners are cut."""

    def __init__(self, degrees=(-30, 30), p=0.5, expand=False, border_val=0,
                 mask_border_val=0, interpolation="INTER_LINEAR", clip_border=True):
        name = type(self).__name__
        if isinstance(degrees, numbers.Real) and not isinstance(degrees, bool):
            degrees = (-abs(degrees), abs(degrees))
        self._range = check_range(name, "degrees", degrees)
        self.degrees, self.p, self.expand = degrees, check_prob(name, "p", p), bool(expand)
        self.border_val, self.mask_border_val = border_val, mask_border_val
        self.interpolation, self._flag = interpolation, _flag(name, interpolation)
        self.clip_border = bool(clip_border)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        h, w = image_shape(results)
        degree = rng.uniform(*self._range)
        rot = S.rotation_matrix(degree)
        if self.expand:
            corners = S.transform_points(S.corners_of((h, w)) - (w / 2, h / 2), rot)
            span = corners.max(axis=0) - corners.min(axis=0)
            ow, oh = int(np.ceil(span[0] - 1e-6)), int(np.ceil(span[1] - 1e-6))
        else:
            oh, ow = h, w
        matrix = S.translation_matrix(ow / 2, oh / 2) @ rot @ S.translation_matrix(-w / 2, -h / 2)
        results["rotate_degree"] = float(degree)
        return warp_results(results, matrix, (oh, ow), self._flag, self.border_val,
                            self.mask_border_val, self.clip_border)


@TRANSFORM_REGISTRY.register()
class RandomPerspective(BaseTransform):
    """With probability ``p``, move each image corner inwards by up to
    ``distortion_scale`` of half the side (torchvision's rule) and warp the image so the
    corners land there. Same size out."""

    def __init__(self, distortion_scale=0.3, p=0.5, border_val=0, mask_border_val=0,
                 interpolation="INTER_LINEAR", clip_border=True):
        name = type(self).__name__
        self.distortion_scale = _number(name, "distortion_scale", distortion_scale, 0, 1)
        self.p = check_prob(name, "p", p)
        self.border_val, self.mask_border_val = border_val, mask_border_val
        self.interpolation, self._flag = interpolation, _flag(name, interpolation)
        self.clip_border = bool(clip_border)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        import cv2

        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        h, w = image_shape(results)
        src = S.corners_of((h, w))
        reach = self.distortion_scale * np.array([w / 2, h / 2], np.float32)
        inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
        dst = src + inward * rng.uniform(0, 1, size=(4, 2)).astype(np.float32) * reach
        matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
        return warp_results(results, matrix, (h, w), self._flag, self.border_val,
                            self.mask_border_val, self.clip_border)
