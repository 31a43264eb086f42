"""The results dict: which keys each kind of transform may touch, and how they move.

A sample travels through the pipeline as one dict (the mmcv convention). The field lists
name its keys by role, so that a geometric transform moves every aligned array together
(an image, its label mask, its boxes and points) while a colour transform changes only
the images whose colours mean something. Keeping these rules in one place is what makes
the built-in transforms agree with each other:

- ``img_fields``: image-like arrays (H x W or H x W x C) moved by geometric transforms.
  Default: ``['img']`` when ``img`` is present.
- ``mask_fields``: image-like label maps; moved like images but always with
  nearest-neighbour resampling and never colour-changed. Default: ``['mask']`` when
  ``mask`` is present. A key named ``mask`` listed in ``img_fields`` is a mask too.
- ``color_fields``: the images colour transforms change. Default: ``['img']`` when present.
  Masks are never colour-changed, even if listed.
- ``bbox_fields``: N x 4 float arrays ``x1, y1, x2, y2`` in pixels. Default ``['bbox']``.
- ``pts_fields``: N x 2 float arrays ``x, y`` in pixels (extra columns are carried
  along untouched). Default ``['pts']``.

Coordinates are continuous: pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``,
so its centre is ``(j + 0.5, i + 0.5)``. This is the convention OpenCV's resize uses,
which is why points and boxes stay on the same pixels as the image under every transform.
"""
from typing import Callable, List, Tuple

import numpy as np

__all__ = [
    "image_keys",
    "mask_keys",
    "geometric_keys",
    "color_keys",
    "bbox_keys",
    "pts_keys",
    "image_shape",
    "map_images",
    "map_bboxes",
    "map_points",
    "clip_bboxes",
    "clip_points",
]


def _listed(results: dict, list_name: str, default_key: str) -> List[str]:
    if list_name in results and results[list_name] is not None:
        keys = list(results[list_name])
    else:
        keys = [default_key] if default_key in results else []
    for key in keys:
        if key not in results:
            raise KeyError(
                f"results['{list_name}'] lists '{key}', but the results dict has no key "
                f"'{key}' (keys: {sorted(results)}). Set the field lists to the keys you "
                f"fill in your dataset's __getitem__."
            )
    return keys


def mask_keys(results: dict) -> List[str]:
    keys = _listed(results, "mask_fields", "mask")
    if "mask" in (results.get("img_fields") or ()) and "mask" not in keys:
        keys.append("mask")
    return keys


def image_keys(results: dict) -> List[str]:
    """Image-like keys that are not masks."""
    masks = set(mask_keys(results))
    return [k for k in _listed(results, "img_fields", "img") if k not in masks]


def geometric_keys(results: dict) -> List[Tuple[str, bool]]:
    """``(key, is_mask)`` for every array a geometric transform must move."""
    return [(k, False) for k in image_keys(results)] + [(k, True) for k in mask_keys(results)]


def color_keys(results: dict) -> List[str]:
    masks = set(mask_keys(results))
    return [k for k in _listed(results, "color_fields", "img") if k not in masks]


def bbox_keys(results: dict) -> List[str]:
    return _listed(results, "bbox_fields", "bbox")


def pts_keys(results: dict) -> List[str]:
    return _listed(results, "pts_fields", "pts")


def image_shape(results: dict) -> Tuple[int, int]:
    """``(h, w)`` shared by all image-like arrays; a mismatch is reported, not guessed."""
    shapes = {k: tuple(np.shape(results[k])[:2]) for k, _ in geometric_keys(results)}
    if len(set(shapes.values())) > 1:
        raise ValueError(
            f"image-like fields must share height and width to be transformed together, "
            f"got {shapes}"
        )
    if shapes:
        return next(iter(shapes.values()))
    if "img_shape" in results:
        return tuple(int(v) for v in results["img_shape"][:2])
    raise KeyError(
        "cannot tell the image size: the results dict has no image-like field and no "
        "'img_shape'"
    )


def map_images(
    results: dict, image_fn: Callable, mask_fn: Callable = None
) -> Tuple[int, int]:
    """Apply ``image_fn`` to images and ``mask_fn`` (default ``image_fn``) to masks, then
    set ``img_shape`` to the new size, which is returned."""
    mask_fn = mask_fn or image_fn
    for key, is_mask in geometric_keys(results):
        results[key] = (mask_fn if is_mask else image_fn)(results[key])
    keys = geometric_keys(results)
    if keys:
        results["img_shape"] = tuple(int(v) for v in np.shape(results[keys[0][0]])[:2])
    return results.get("img_shape")


def _as_float_array(value, min_cols: int, key: str) -> np.ndarray:
    arr = np.array(value, dtype=np.float32, copy=True)
    if arr.size == 0:
        arr = arr.reshape(0, min_cols)
    if arr.ndim != 2 or arr.shape[1] < min_cols:
        raise ValueError(
            f"results['{key}'] must be an N x {min_cols} array, got shape {arr.shape}"
        )
    return arr


def map_bboxes(results: dict, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Replace each box array by ``fn(float32 copy)``."""
    for key in bbox_keys(results):
        results[key] = fn(_as_float_array(results[key], 4, key))


def map_points(results: dict, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Replace each point array by ``fn(float32 copy)``."""
    for key in pts_keys(results):
        results[key] = fn(_as_float_array(results[key], 2, key))


def clip_bboxes(bboxes: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    h, w = shape
    bboxes[:, 0:4:2] = np.clip(bboxes[:, 0:4:2], 0, w)
    bboxes[:, 1:4:2] = np.clip(bboxes[:, 1:4:2], 0, h)
    return bboxes


def clip_points(points: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    h, w = shape
    points[:, 0] = np.clip(points[:, 0], 0, w)
    points[:, 1] = np.clip(points[:, 1], 0, h)
    return points
