"""Drawing what a person wants to see in a sample or a prediction, with OpenCV.

Used by the dataset browser (``engine-browse-dataset``) and the deployment tools, so
every picture the engine writes has the same colours and labels. All helpers take and
return **RGB** ``uint8`` arrays (H x W x 3) and never modify their input; a greyscale or
float image is converted once by :func:`to_rgb_uint8` (floats are taken to be in [0, 1]
unless their range says 0..255). Only :func:`save_png` talks to the disk, and it is
the one place where the RGB -> BGR swap OpenCV expects happens.

- ``overlay_mask(img, mask, alpha=0.5, ignore_index=255)``: blend a label map over the
  image, one fixed colour per class (class ``k`` always gets ``PALETTE[k % 256]``);
  ``ignore_index`` and background 0 are left uncoloured.
- ``draw_boxes(img, boxes, labels=None, scores=None, class_names=None)``: rectangles
  ``x1, y1, x2, y2`` in pixels, coloured by label, captioned ``name score``.
- ``draw_points(img, pts, labels=None)``: filled dots at ``x, y`` with their index or
  label.
- ``put_label(img, text)``: a caption in a dark band at the top left.
- ``make_grid(images, cols, pad=2)``: tile images (resized to the first one's size
  when they differ) into rows of ``cols``.
- ``save_png(path, rgb)``: write an RGB image, creating the folder.
"""
import os
from typing import Optional, Sequence

import cv2
import numpy as np

__all__ = [
    "PALETTE",
    "color_of",
    "to_rgb_uint8",
    "overlay_mask",
    "draw_boxes",
    "draw_points",
    "put_label",
    "make_grid",
    "save_png",
]


def _palette() -> np.ndarray:
    """256 well-separated colours: the PASCAL VOC bit-interleaving scheme (0 is black),
    so class k gets the same colour in every picture and every run."""
    colours = np.zeros((256, 3), np.uint8)
    for k in range(256):
        c, r, g, b = k, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        colours[k] = (r, g, b)
    return colours


PALETTE = _palette()


def color_of(label) -> tuple:
    """The RGB colour (python ints, as cv2 wants) of class ``label``; None -> green."""
    if label is None:
        return (0, 255, 0)
    c = PALETTE[(int(label) + 1) % 256]  # +1: class 0 of a detector should not be black
    return int(c[0]), int(c[1]), int(c[2])


def to_rgb_uint8(img) -> np.ndarray:
    """A contiguous H x W x 3 uint8 copy of ``img`` (grey, RGB, 1-channel, float)."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        f = img.astype(np.float32)
        if f.size and float(np.nanmax(f)) <= 1.0 + 1e-6:
            f = f * 255.0
        img = np.clip(np.nan_to_num(f) + 0.5, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W or H x W x 1/3/4 image, got shape {img.shape}")
    return np.ascontiguousarray(img[:, :, :3]).copy()


def overlay_mask(img, mask, alpha: float = 0.5, ignore_index: Optional[int] = 255) -> np.ndarray:
    """``img`` with every pixel of class k > 0 (and != ignore_index) blended with
    class k's colour: ``(1 - alpha) * img + alpha * colour``."""
    out = to_rgb_uint8(img)
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    if mask.shape[:2] != out.shape[:2]:
        raise ValueError(f"mask {mask.shape[:2]} and image {out.shape[:2]} differ in size")
    labels = mask.astype(np.int64)
    shown = labels != 0
    if ignore_index is not None:
        shown &= labels != ignore_index
    colours = PALETTE[labels[shown] % 256].astype(np.float32)
    blended = (1.0 - alpha) * out[shown].astype(np.float32) + alpha * colours
    out[shown] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def _font_scale(img: np.ndarray) -> float:
    return max(0.3, min(img.shape[:2]) / 400.0)


def _text(out: np.ndarray, text: str, org, colour) -> None:
    scale = _font_scale(out)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = int(org[0]), int(max(org[1], th + base))
    cv2.rectangle(out, (x, y - th - base), (x + tw, y), colour, -1)
    dark = sum(colour) > 3 * 128
    cv2.putText(out, text, (x, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0) if dark else (255, 255, 255), 1, cv2.LINE_AA)


def _caption(label, score, class_names) -> str:
    parts = []
    if label is not None:
        k = int(label)
        parts.append(str(class_names[k]) if class_names is not None and 0 <= k < len(class_names)
                     else str(k))
    if score is not None:
        parts.append(f"{float(score):.2f}")
    return " ".join(parts)


def draw_boxes(img, boxes, labels=None, scores=None,
               class_names: Optional[Sequence[str]] = None, thickness: int = 1) -> np.ndarray:
    """Rectangles for ``boxes`` (N x 4+, ``x1, y1, x2, y2``), captioned when labels or
    scores are given."""
    out = to_rgb_uint8(img)
    boxes = np.asarray(boxes, np.float32).reshape(-1, np.shape(boxes)[-1] if np.size(boxes) else 4)
    for i, box in enumerate(boxes):
        label = None if labels is None else labels[i]
        score = None if scores is None else scores[i]
        colour = color_of(label)
        x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
        cv2.rectangle(out, (x1, y1), (max(x1, x2 - 1), max(y1, y2 - 1)), colour, thickness)
        caption = _caption(label, score, class_names)
        if caption:
            _text(out, caption, (x1, y1), colour)
    return out


def draw_points(img, pts, labels=None, radius: int = 2) -> np.ndarray:
    """Filled dots at ``pts`` (N x 2+, ``x, y``), each tagged with its label (or index)."""
    out = to_rgb_uint8(img)
    pts = np.asarray(pts, np.float32).reshape(-1, np.shape(pts)[-1] if np.size(pts) else 2)
    for i, p in enumerate(pts):
        label = None if labels is None else labels[i]
        colour = color_of(i if label is None else label)
        centre = (int(np.floor(p[0])), int(np.floor(p[1])))
        cv2.circle(out, centre, radius, colour, -1, cv2.LINE_AA)
        cv2.putText(out, str(i if label is None else label), (centre[0] + radius + 1, centre[1]),
                    cv2.FONT_HERSHEY_SIMPLEX, _font_scale(out) * 0.8, colour, 1, cv2.LINE_AA)
    return out


def put_label(img, text: str) -> np.ndarray:
    """``img`` with ``text`` written in white on a dark band at the top left."""
    out = to_rgb_uint8(img)
    _text(out, str(text), (0, 0), (32, 32, 32))
    return out


def make_grid(images: Sequence[np.ndarray], cols: int = 4, pad: int = 2,
              pad_value: int = 255) -> np.ndarray:
    """One RGB picture of ``images`` in rows of ``cols``, ``pad`` pixels apart.

    Every tile takes the first image's size (others are resized, keeping no ratio: the
    browser gives equal sizes anyway). The result is
    ``rows * h + (rows + 1) * pad`` high and ``cols * w + (cols + 1) * pad`` wide.
    """
    if not images:
        raise ValueError("make_grid needs at least one image")
    if cols < 1 or pad < 0:
        raise ValueError(f"make_grid: cols must be >= 1 and pad >= 0, got {cols}, {pad}")
    tiles = [to_rgb_uint8(im) for im in images]
    h, w = tiles[0].shape[:2]
    cols = min(cols, len(tiles))
    rows = -(-len(tiles) // cols)
    grid = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, 3), pad_value, np.uint8)
    for k, tile in enumerate(tiles):
        if tile.shape[:2] != (h, w):
            tile = cv2.resize(tile, (w, h), interpolation=cv2.INTER_NEAREST)
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = tile
    return grid


def save_png(path: str, rgb: np.ndarray) -> str:
    """Write the RGB image ``rgb`` to ``path`` (a PNG), creating its folder; returns path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    bgr = cv2.cvtColor(to_rgb_uint8(rgb), cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, bgr):
        raise OSError(f"could not write the image {path!r}")
    return path
