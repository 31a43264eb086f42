"""MosaicTransform: tile the sample with n - 1 other samples (1x3, 2x2, 3x3), YOLO-style.

It needs other samples, and which ones must not depend on the worker that loads the
sample, or training would change with ``num_workers``. So:

- the partners' **indices are drawn from the sample's own generator** (the ``rng`` the
  engine seeds from (seed, epoch, index)), like every other random choice, and
- a partner is loaded **raw and deterministically**: by the dataset's
  ``load_results(index)`` (an :class:`~engine.data.dataset.EngineDataSet` method that
  returns the results dict ``__getitem__`` would feed to the pipeline), or, the seed's
  form, from ``dataset=[[img_path, bboxes, labels], ...]``.

The mosaic of sample i in epoch e is then a pure function of (seed, e, i), whichever
worker builds it. An EngineDataSet hands itself to the transforms of its pipeline that
have a ``bind_dataset`` method when it is built; a pipeline run elsewhere can call
``mosaic.bind_dataset(obj)`` with any object that has ``load_results`` and ``__len__``.

Every tile is first resized to fit ``max_size`` (keeping its ratio). Images, masks,
boxes, points and the ``bbox_label_fields`` arrays of the tiles are combined; boxes are
clipped to the visible part of their tile and removed (with their rows) when nothing of
them is visible. Put Mosaic first in the pipeline: partners are loaded raw, so
transforms before it would apply to the main sample only.
"""
import numbers

import cv2
import numpy as np

from engine.utils.errors import ConfigError, EngineError

from .base import BaseTransform, as_rng, check_prob
from .build import TRANSFORM_REGISTRY
from .fields import (
    as_float_array,
    bbox_aligned_keys,
    bbox_keys,
    fill_value,
    geometric_keys,
    image_shape,
    pts_keys,
    settle_bboxes,
)
from .geometric import Resize

__all__ = ["MosaicTransform"]


def _concat(parts):
    """Concatenate per-tile row arrays of one key: numpy, torch or lists."""
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate([np.asarray(p) for p in parts], axis=0)
    if hasattr(first, "index_select"):
        import torch

        return torch.cat([torch.as_tensor(p) for p in parts], dim=0)
    return [v for p in parts for v in p]


class _ListSource:
    """The seed's ``dataset=[[img_path, bboxes, labels], ...]``, read with OpenCV."""

    def __init__(self, items, to_rgb: bool):
        self.items, self.to_rgb = list(items), to_rgb

    def __len__(self):
        return len(self.items)

    def load_results(self, index: int) -> dict:
        entry = self.items[index]
        path, bboxes, labels = entry[0], entry[1], entry[2]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise EngineError(f"MosaicTransform: cannot read the image {path!r} "
                              f"(dataset entry {index})")
        if self.to_rgb:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return dict(img=img, bbox=np.asarray(bboxes, np.float32).reshape(-1, 4),
                    labels=list(labels), bbox_label_fields=["labels"],
                    img_shape=img.shape[:2], ori_shape=img.shape[:2])


@TRANSFORM_REGISTRY.register()
class MosaicTransform(BaseTransform):
    """With probability ``p``, a mosaic of ``n`` (3: 1x3, 4: 2x2, 9: 3x3) samples.

    ``max_size``: each tile's long side. ``border_step``: the 2x2 centre is drawn in
    ``[b, 2 * max_size - b]`` and the 1x3 / 3x3 canvases lose ``b`` pixels on each side,
    ``b = max_size // border_step``. Output sizes: ``2 * max_size`` (n=4),
    ``3 * max_size - 2b`` (n=3, 9). ``pad_val`` fills the empty canvas (114, as in the
    seed); masks are filled with their ``pad_value`` entry or ``mask_pad_val``.
    ``dataset``: the seed's list ``[[img_path, bboxes, labels], ...]`` (images read with
    OpenCV and converted to RGB unless ``to_rgb=False``; their labels fill the main
    sample's first ``bbox_label_fields`` key); without it the partners come
    from the bound dataset's ``load_results``. Records ``mosaic_indices``.
    """

    def __init__(self, dataset=None, max_size=640, p=1.0, n=4, border_step=2, pad_val=114,
                 mask_pad_val=0, to_rgb=True):
        name = type(self).__name__
        if n not in (3, 4, 9):
            raise ConfigError(f"{name}: n must be 3 (1x3), 4 (2x2) or 9 (3x3), got {n!r}")
        for key, value in (("max_size", max_size), ("border_step", border_step)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: {key} must be a positive int, got {value!r}")
        if dataset is not None and (not isinstance(dataset, (list, tuple)) or not dataset or any(
                not isinstance(e, (list, tuple)) or len(e) < 3 for e in dataset)):
            raise ConfigError(f"{name}: dataset must be a non-empty list of [img_path, bboxes, "
                              f"labels] entries")
        self.max_size, self.p, self.n, self.border_step = int(max_size), check_prob(name, "p", p), n, int(border_step)
        self.pad_val, self.mask_pad_val, self.to_rgb = pad_val, mask_pad_val, bool(to_rgb)
        self.dataset = dataset
        self._source = None if dataset is None else _ListSource(dataset, self.to_rgb)
        self._resize = Resize(self.max_size, keep_ratio=True)

    def __repr__(self) -> str:
        size = "None" if self.dataset is None else f"<{len(self.dataset)} entries>"
        return (f"MosaicTransform(dataset={size}, max_size={self.max_size}, p={self.p}, "
                f"n={self.n}, border_step={self.border_step})")

    # ------------------------------------------------------------------ partners

    def bind_dataset(self, dataset) -> None:
        """Use ``dataset.load_results(index)`` for the partners (unless a list was given)."""
        if self.dataset is not None:
            return
        if not callable(getattr(dataset, "load_results", None)):
            raise ConfigError(
                f"MosaicTransform needs other samples: give it dataset=[[img_path, bboxes, "
                f"labels], ...] or implement load_results(index) in {type(dataset).__name__}")
        self._source = dataset

    def _partners(self, count: int, rng) -> list:
        if self._source is None:
            raise EngineError(
                "MosaicTransform has no samples to mix: give it dataset=[...] or run it in "
                "an EngineDataSet that implements load_results(index)")
        indices = [int(i) for i in rng.integers(0, len(self._source), size=count)]
        return indices, [self._source.load_results(i) for i in indices]

    # ------------------------------------------------------------------ layout

    def _layout(self, shapes, rng):
        """``(offsets, canvas (h, w))``: the top-left corner of each tile in the output."""
        s, b = self.max_size, self.max_size // self.border_step
        if self.n == 4:
            xc, yc = (int(v) for v in rng.integers(b, 2 * s - b + 1, size=2))
            (h0, w0), (h1, w1), (h2, w2), (h3, w3) = shapes
            offsets = [(xc - w0, yc - h0), (xc, yc - h1), (xc - w2, yc), (xc, yc)]
            return offsets, (2 * s, 2 * s)
        h0, w0 = shapes[0]
        if self.n == 3:
            (h1, _), (h2, w2) = shapes[1], shapes[2]
            corners = [(s, s), (s + w0, s), (s - w2, s + h0 - h2)]
        else:
            corners, hp, wp = [], -1, -1
            for i, (h, w) in enumerate(shapes):
                corners.append([
                    (s, s), (s, s - h), (s + wp, s - h), (s + w0, s), (s + w0, s + hp),
                    (s + w0 - w, s + h0), (s + w0 - wp - w, s + h0), (s - w, s + h0 - h),
                    (s - w, s + h0 - hp - h),
                ][i])
                hp, wp = h, w
        offsets = [(x - b, y - b) for x, y in corners]
        return offsets, (3 * s - 2 * b, 3 * s - 2 * b)

    # ------------------------------------------------------------------ mixing

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        indices, partners = self._partners(self.n - 1, rng)
        tiles = [self._resize(results)] + [self._like(results, self._resize(t)) for t in partners]
        offsets, canvas_shape = self._layout([image_shape(t) for t in tiles], rng)
        H, W = canvas_shape
        for key, is_mask in geometric_keys(results):
            first = tiles[0][key]
            fill = fill_value(results, key, self.mask_pad_val if is_mask else self.pad_val)
            canvas = np.empty((H, W) + first.shape[2:], first.dtype)
            canvas[...] = fill
            for tile, (x, y) in zip(tiles, offsets):
                th, tw = tile[key].shape[:2]
                x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + tw, W), min(y + th, H)
                if x2 > x1 and y2 > y1:
                    canvas[y1:y2, x1:x2] = tile[key][y1 - y:y2 - y, x1 - x:x2 - x]
            results[key] = canvas
        for key in bbox_keys(results):
            aligned = bbox_aligned_keys(results, key)
            pieces = {k: [] for k in [key] + aligned}
            for tile, (x, y) in zip(tiles, offsets):
                th, tw = image_shape(tile)
                part = dict(tile_boxes=as_float_array(tile[key], 4, key),
                            bbox_label_fields={"tile_boxes": aligned},
                            **{k: tile[k] for k in aligned})
                part["tile_boxes"][:, 0:4] += np.array([x, y, x, y], np.float32)
                self._clip_to(part, x, y, tw, th, W, H)
                pieces[key].append(part["tile_boxes"])
                for k in aligned:
                    pieces[k].append(part[k])
            for k, parts in pieces.items():
                results[k] = _concat(parts)
        for key in pts_keys(results):
            parts = []
            for tile, (x, y) in zip(tiles, offsets):
                pts = as_float_array(tile[key], 2, key)
                pts[:, 0:2] += np.array([x, y], np.float32)
                parts.append(pts)
            results[key] = np.concatenate(parts, axis=0)
        results["img_shape"] = (H, W)
        results["mosaic_indices"] = indices
        return results

    @staticmethod
    def _clip_to(part, x, y, tw, th, W, H):
        """Clip a tile's boxes to the tile's visible window and drop the empty ones."""
        x1, y1 = max(x, 0), max(y, 0)
        x2, y2 = min(x + tw, W), min(y + th, H)
        view = dict(part, bbox_fields=["tile_boxes"], img_fields=[], mask_fields=[],
                    pts_fields=[])
        view["tile_boxes"][:, 0:4] -= np.array([x1, y1, x1, y1], np.float32)
        settle_bboxes(view, (max(0, y2 - y1), max(0, x2 - x1)), True)
        view["tile_boxes"][:, 0:4] += np.array([x1, y1, x1, y1], np.float32)
        for k in list(part):
            part[k] = view[k]

    def _like(self, main: dict, tile: dict) -> dict:
        """A partner's dict with the main sample's keys: its own arrays where it has
        them, empty rows / filled masks where it does not (e.g. the seed's list form)."""
        out = dict(tile)
        h, w = image_shape(tile)
        for key, is_mask in geometric_keys(main):
            if key not in out:
                if not is_mask:
                    raise EngineError(f"MosaicTransform: a partner sample has no image field "
                                      f"'{key}' (its keys: {sorted(tile)})")
                fill = fill_value(main, key, self.mask_pad_val)
                out[key] = np.full((h, w) + main[key].shape[2:], fill, main[key].dtype)
        for key in bbox_keys(main):
            if key not in out:
                src = "bbox" if "bbox" in tile else None
                out[key] = tile[src] if src else np.zeros((0, main[key].shape[1]), np.float32)
            for n, k in enumerate(bbox_aligned_keys(main, key)):
                if k not in out:
                    if n > 0 or "labels" not in tile:  # the list form has labels only
                        raise EngineError(
                            f"MosaicTransform: a partner sample has no '{k}' (listed in "
                            f"bbox_label_fields); its keys: {sorted(tile)}")
                    out[k] = tile["labels"]  # the list's labels fill the first aligned key
                if isinstance(main[k], np.ndarray) and not isinstance(out[k], np.ndarray):
                    out[k] = np.asarray(out[k], main[k].dtype)
        for key in pts_keys(main):
            if key not in out:
                out[key] = np.zeros((0, np.shape(main[key])[1]), np.float32)
        return out
