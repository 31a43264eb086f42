"""Neighbourhood filters (box, median, arbitrary kernel, defocus, glass blur) on numpy images.

Each is one or two OpenCV passes so that a filter drawn per sample stays cheap; the
parameters are plain numbers or arrays drawn by the caller (a transform drawing from its
``rng``), so the functions themselves are deterministic. Borders follow OpenCV's
defaults (reflect-101; replicate for the median). A trailing channel axis of size 1,
which OpenCV drops, is kept, and inputs are never modified.
"""
import numpy as np
import cv2

__all__ = ["blur", "median_blur", "convolve", "defocus", "glass_blur"]


def _keep_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def blur(img: np.ndarray, ksize: int) -> np.ndarray:
    """Mean over a ``ksize x ksize`` window."""
    return _keep_channels(cv2.blur(img, (int(ksize), int(ksize))), img)


def median_blur(img: np.ndarray, ksize: int) -> np.ndarray:
    """Median over a ``ksize x ksize`` window (odd ``ksize``). OpenCV has float32 medians
    only for 3 and 5, so other sizes are refused up front rather than failing inside cv2."""
    if img.dtype == np.float32 and ksize not in (3, 5):
        raise ValueError(f"median_blur: a float32 image takes ksize 3 or 5, got {ksize}")
    return _keep_channels(cv2.medianBlur(img, int(ksize)), img)


def convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate with ``kernel`` (anchor at its centre), same dtype out, saturated."""
    return _keep_channels(cv2.filter2D(img, -1, np.asarray(kernel, np.float32)), img)


def defocus(img: np.ndarray, radius: int, alias_blur: float) -> np.ndarray:
    """An out-of-focus lens: convolve with a disk of ``radius`` pixels whose hard edge is
    softened by a Gaussian of sigma ``alias_blur`` (kernel support at least 17 x 17)."""
    reach = max(8, int(radius))
    y, x = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    disk = (x * x + y * y <= radius * radius).astype(np.float32)
    disk /= disk.sum()
    size = 3 if radius <= 8 else 5
    return convolve(img, cv2.GaussianBlur(disk, (size, size), alias_blur))


def _pixels(h: int, w: int, max_delta: int):
    """Rows and columns whose pixels are shuffled: from the far edge inwards, keeping
    ``max_delta`` clear of every border so a neighbour never falls outside."""
    return np.arange(h - max_delta, max_delta, -1), np.arange(w - max_delta, max_delta, -1)


def glass_blur(img: np.ndarray, sigma: float, max_delta: int, iterations: int,
               dxy: np.ndarray, mode: str = "fast") -> np.ndarray:
    """Frosted glass: Gaussian blur (``sigma``), swap pixels with a neighbour, blur again.

    ``dxy[k, i] = (dy, dx)`` is pixel ``k``'s offset in iteration ``i`` (the caller draws
    them, in ``[-max_delta, max_delta)``). ``fast`` swaps every pixel of an iteration
    at once, pixels numbered column by column; ``exact`` swaps them one at a time, row
    by row, each swap seeing the previous ones, reusing ``dxy`` rows cyclically.
    """
    if mode not in ("fast", "exact"):
        raise ValueError(f"glass_blur: mode must be 'fast' or 'exact', got {mode!r}")
    dxy = np.asarray(dxy)
    out = _keep_channels(cv2.GaussianBlur(img, (0, 0), sigma), img)
    rows, cols = _pixels(img.shape[0], img.shape[1], int(max_delta))
    if mode == "fast":
        r, c = np.tile(rows, len(cols)), np.repeat(cols, len(rows))
        for i in range(int(iterations)):
            r2, c2 = r + dxy[:, i, 0], c + dxy[:, i, 1]
            here, there = out[r, c], out[r2, c2]
            out[r, c] = there
            out[r2, c2] = here
    else:
        k = 0
        for i in range(int(iterations)):
            for r in rows:
                for c in cols:
                    dy, dx = dxy[k % len(dxy), i]
                    k += 1
                    r2, c2 = r + dy, c + dx
                    out[[r, r2], [c, c2]] = out[[r2, r], [c2, c]]
    return _keep_channels(cv2.GaussianBlur(out, (0, 0), sigma), img)
