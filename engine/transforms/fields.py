"""The results dict: which keys each kind of transform may touch, and how they move.

A sample travels through the pipeline as one dict (the mmcv convention). The field lists
name its keys by role, so that a geometric transform moves every aligned array together
(an image, its label mask, its boxes and points) while a colour transform changes only
the images whose colours mean something. Keeping these rules in one place is what makes
the built-in transforms agree with each other:

- ``img_fields``: image-like arrays (H x W or H x W x C) moved by geometric transforms.
  Default: ``['img']`` when ``img`` is present.
- ``mask_fields``: image-like label maps; moved like images but always with
  nearest-neighbour resampling and never normalised or colour-changed. Default:
  ``['mask']`` when present. An ``img_fields`` key is a mask too when it is named
  ``mask``, when its ``interpolation`` is nearest, or when ``color_fields`` leaves out
  a label map (:mod:`engine.transforms.field_roles`).
- ``color_fields``: the images colour transforms change. Default: ``['img']`` when present.
  Masks are never colour-changed, even if listed.
- ``bbox_fields``: N x 4 float arrays ``x1, y1, x2, y2`` in pixels. Default ``['bbox']``.
- ``pts_fields``: N x 2 float arrays ``x, y`` in pixels (extra columns are carried
  along untouched). Default ``['pts']``.

Coordinates are continuous: pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``,
so its centre is ``(j + 0.5, i + 0.5)``. This is the convention OpenCV's resize uses,
which is why points and boxes stay on the same pixels as the image under every transform.

The seed's per-field conventions, read by every spatial transform:

- ``pad_value``: ``{key: fill}`` used for that field wherever a transform creates new
  pixels (padding, warping); it wins over the transform's own default, as in the seed.
- ``interpolation``: ``{key: 'INTER_...'}`` for image fields; masks always use nearest.
- ``bbox_label_fields``: keys of per-box arrays (labels, scores, ids; numpy arrays,
  tensors or lists) whose rows follow the boxes. A list applies to every bbox field; a
  dict ``{bbox_key: [keys]}`` names them per bbox field. The seed's ``bbox_cls_fields``
  list means the same. Without either, a key named ``labels`` follows the boxes when
  there is one bbox field. When a transform removes a box (it left the image, or shrank
  below a threshold), the same rows go from these arrays.
- ``scale`` (``[sx, sy]``) and ``pad_offset`` (``[top, bottom, left, right]``): written by
  the resizing and padding transforms and composed, so that in a pipeline of resizes and
  pads ``x_out = x_in * sx + left`` maps the original image to the output. Crops and
  warps leave them alone and record their own geometry (``crop_bbox``, ``warp_matrix``).
"""
from typing import Callable, List, Tuple

import numpy as np

from .field_roles import check_listed, layout

__all__ = [
    "image_keys", "mask_keys", "geometric_keys", "color_keys", "bbox_keys", "pts_keys",
    "image_shape", "map_images", "map_bboxes", "map_points", "as_float_array",
    "clip_bboxes", "clip_points", "fill_value", "interpolation_of", "bbox_aligned_keys",
    "drop_bbox_rows", "settle_bboxes", "record_resize", "record_padding"
]


def mask_keys(results: dict) -> List[str]:
    found = layout(results)
    check_listed(results, found.listed, "mask_fields")
    return list(found.masks)


def image_keys(results: dict) -> List[str]:
    """Image-like keys that are not masks."""
    found = layout(results)
    check_listed(results, found.listed, "mask_fields", "img_fields")
    return list(found.images)


def geometric_keys(results: dict) -> List[Tuple[str, bool]]:
    """``(key, is_mask)`` for every array a geometric transform must move."""
    found = layout(results)
    check_listed(results, found.listed, "mask_fields", "img_fields")
    return list(found.geometric)


def color_keys(results: dict) -> List[str]:
    found = layout(results)
    check_listed(results, found.listed, "mask_fields", "color_fields")
    return list(found.colors)


def _listed(results: dict, list_name: str, default_key: str) -> List[str]:
    keys = results.get(list_name)
    if keys is None:
        return [default_key] if default_key in results else []
    keys = list(keys)
    check_listed(results, {list_name: keys}, list_name)
    return keys


def bbox_keys(results: dict) -> List[str]:
    return _listed(results, "bbox_fields", "bbox")


def pts_keys(results: dict) -> List[str]:
    return _listed(results, "pts_fields", "pts")


def _hw(value) -> tuple:
    return value.shape[:2] if type(value) is np.ndarray else tuple(np.shape(value)[:2])


def image_shape(results: dict, keys=None) -> Tuple[int, int]:
    """``(h, w)`` shared by all image-like arrays; a mismatch is reported, not guessed.
    ``keys``: the :func:`geometric_keys` when the caller already has them."""
    keys = geometric_keys(results) if keys is None else keys
    if keys:
        shape = _hw(results[keys[0][0]])
        for k, _ in keys[1:]:
            if _hw(results[k]) != shape:
                shapes = {k: tuple(np.shape(results[k])[:2]) for k, _ in keys}
                raise ValueError(
                    f"image-like fields must share height and width to be transformed "
                    f"together, got {shapes}"
                )
        return tuple(shape)
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
    keys = geometric_keys(results)
    for key, is_mask in keys:
        results[key] = (mask_fn if is_mask else image_fn)(results[key])
    if keys:
        results["img_shape"] = tuple(int(v) for v in np.shape(results[keys[0][0]])[:2])
    return results.get("img_shape")


def as_float_array(value, min_cols: int, key: str) -> np.ndarray:
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
    if "bbox_fields" not in results and "bbox" not in results:
        return  # most samples: no boxes (checked first: every geometric transform asks)
    for key in bbox_keys(results):
        results[key] = fn(as_float_array(results[key], 4, key))


def map_points(results: dict, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Replace each point array by ``fn(float32 copy)``."""
    if "pts_fields" not in results and "pts" not in results:
        return
    for key in pts_keys(results):
        results[key] = fn(as_float_array(results[key], 2, key))


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


# ------------------------------------------------------------------ per-field settings


def fill_value(results: dict, key: str, default):
    """The fill of ``key`` for new pixels: ``results['pad_value'][key]`` if the dataset
    set one, else ``default`` (a number, one per channel, or ``{key: value}``)."""
    given = results.get("pad_value")
    if isinstance(given, dict) and given.get(key) is not None:
        return given[key]
    if isinstance(default, dict):
        return default.get(key, 0)
    return default


def interpolation_of(results: dict, key: str, default):
    """``results['interpolation'][key]`` when the dataset set one, else ``default``."""
    given = results.get("interpolation")
    if isinstance(given, dict) and given.get(key) is not None:
        return given[key]
    return default


# ------------------------------------------------------------------ per-box arrays


def bbox_aligned_keys(results: dict, bbox_key: str) -> List[str]:
    """Keys whose rows follow the rows of ``results[bbox_key]`` (see the module doc)."""
    spec = results.get("bbox_label_fields")
    if spec is None:
        spec = results.get("bbox_cls_fields")
    if spec is None:  # the common name, when there is one set of boxes it can belong to
        return ["labels"] if "labels" in results and len(bbox_keys(results)) == 1 else []
    if isinstance(spec, dict):
        keys = list(spec.get(bbox_key) or [])
    elif isinstance(spec, str):
        keys = [spec]
    else:
        keys = list(spec)
    missing = [k for k in keys if k not in results]
    if missing:
        raise KeyError(
            f"results['bbox_label_fields'] lists {missing} for the boxes '{bbox_key}', but "
            f"the results dict has no such key (keys: {sorted(results)})"
        )
    return keys


def _take_rows(value, keep: np.ndarray, key: str, count: int):
    if len(value) != count:
        raise ValueError(
            f"results['{key}'] has {len(value)} rows but its boxes have {count}; arrays "
            f"listed in bbox_label_fields must have one row per box"
        )
    if isinstance(value, np.ndarray):
        return value[keep]
    if hasattr(value, "index_select"):  # a torch tensor
        import torch

        return value[torch.from_numpy(keep)]
    kept = [v for v, k in zip(value, keep) if k]
    return type(value)(kept) if isinstance(value, tuple) else kept


def drop_bbox_rows(results: dict, bbox_key: str, keep: np.ndarray) -> None:
    """Keep only rows ``keep`` (a bool array) of the boxes and of their aligned arrays."""
    keep = np.asarray(keep, dtype=bool)
    count = len(results[bbox_key])
    if keep.all():
        return
    for key in bbox_aligned_keys(results, bbox_key):
        results[key] = _take_rows(results[key], keep, key, count)
    results[bbox_key] = results[bbox_key][keep]


def settle_bboxes(results: dict, shape: Tuple[int, int], clip_border: bool = True,
                  keep_fn: Callable = None) -> None:
    """After boxes moved: clip them to ``shape`` (with ``clip_border``) and remove the
    ones left with no area inside the image, or rejected by ``keep_fn(key, boxes) ->
    bool array``, together with their aligned rows."""
    h, w = shape
    for key in bbox_keys(results):
        boxes = results[key]
        if not (isinstance(boxes, np.ndarray) and boxes.dtype == np.float32 and boxes.ndim == 2):
            boxes = as_float_array(boxes, 4, key)
        if clip_border:
            boxes = clip_bboxes(boxes, shape)
        results[key] = boxes
        x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
        inside = (np.minimum(x2, w) > np.maximum(x1, 0)) & (np.minimum(y2, h) > np.maximum(y1, 0))
        keep = inside & (x2 > x1) & (y2 > y1)
        if keep_fn is not None:
            keep &= np.asarray(keep_fn(key, boxes), dtype=bool)
        drop_bbox_rows(results, key, keep)


# ------------------------------------------------------------------ geometry records


def record_resize(results: dict, sx: float, sy: float) -> None:
    """Compose a resize by ``(sx, sy)`` into ``scale`` and ``pad_offset``."""
    scale = results.get("scale") or (1.0, 1.0)
    top, bottom, left, right = results.get("pad_offset") or (0, 0, 0, 0)
    results["scale"] = [float(scale[0]) * sx, float(scale[1]) * sy]
    results["pad_offset"] = [top * sy, bottom * sy, left * sx, right * sx]


def record_padding(results: dict, top: float, bottom: float, left: float, right: float) -> None:
    """Add a padding of ``(top, bottom, left, right)`` pixels to ``pad_offset``."""
    results.setdefault("scale", [1.0, 1.0])
    t, b, l, r = results.get("pad_offset") or (0, 0, 0, 0)
    results["pad_offset"] = [t + top, b + bottom, l + left, r + right]
