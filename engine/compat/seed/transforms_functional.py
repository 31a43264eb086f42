"""The seed's helper spellings in ``engine.transforms.functional``, re-exported there.

The image operations themselves are the core's (``functional_color``,
``functional_spatial``, ``functional_filter``, ``functional_dtype``); what is here is
only what the seed names differently (``gamma_transform`` for ``adjust_gamma``...) and
its argument helpers, which a project's own transforms call (``F.to_tuple``,
``F.check_values``, ``F.range_float``). Where the seed's version had a bug, ours
differs on purpose; doc/seed.md lists each difference.

``engine.transforms.functional`` star-imports this module while the ``engine.transforms``
package is being initialised, so the core operations are imported inside the functions.
"""
import numbers
from decimal import Decimal
from typing import Sequence

import cv2
import numpy as np

__all__ = [
    "INTER_CV_TYPE",
    "brightness_contrast_adjust",
    "check_values",
    "gamma_transform",
    "imflip",
    "range_float",
    "to_tuple",
]

#: The seed's table of cv2 interpolation names (``F.INTER_CV_TYPE[name]`` -> flag).
INTER_CV_TYPE = {
    name: getattr(cv2, name)
    for name in ("INTER_AREA", "INTER_BITS", "INTER_BITS2", "INTER_CUBIC", "INTER_LANCZOS4",
                 "INTER_LINEAR", "INTER_LINEAR_EXACT", "INTER_MAX", "INTER_NEAREST",
                 "INTER_NEAREST_EXACT")
    if hasattr(cv2, name)
}


def imflip(img: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    """mmcv's name for a flip; a contiguous copy (the seed returned a view, which
    OpenCV and ``torch.from_numpy`` refuse when negatively strided)."""
    if direction not in ("horizontal", "vertical", "diagonal"):
        raise ValueError(f"imflip: direction must be 'horizontal', 'vertical' or "
                         f"'diagonal', got {direction!r}")
    from ...transforms.functional_spatial import flip_image

    return flip_image(img, direction)


def brightness_contrast_adjust(img, alpha=1, beta=0, beta_by_max=False):
    """albumentations' name and default (``beta`` scaled by the mean) for
    :func:`~engine.transforms.functional_color.brightness_contrast`."""
    from ...transforms.functional_color import brightness_contrast

    return brightness_contrast(img, alpha, beta, beta_by_max)


def gamma_transform(img: np.ndarray, gamma: float) -> np.ndarray:
    """The seed's name for :func:`~engine.transforms.functional_color.adjust_gamma`."""
    from ...transforms.functional_color import adjust_gamma

    return adjust_gamma(img, gamma)


def _decimals(x) -> int:
    return max(0, -Decimal(str(x)).normalize().as_tuple().exponent)


def range_float(start, end, step, exclude) -> list:
    """``start, start + step, ..., end`` (``end`` included when on the grid), without
    ``exclude``: the seed's discrete parameter grids (crop ratios, JPEG qualities).
    Counted in integers at the finest decimal of the arguments, so 0.29 stays 0.29."""
    if start > end:
        raise ValueError(f"range_float: start {start} is after end {end}")
    if step <= 0:
        raise ValueError(f"range_float: step must be positive, got {step}")
    base = 10 ** max(_decimals(v) for v in (start, end, step, exclude))
    skip = round(exclude * base)
    return [i / base
            for i in range(round(start * base), round(end * base) + 1, round(step * base))
            if i != skip]


def to_tuple(param, low=None):
    """A ``(min, max)`` pair from a range given as the pair, or as one number ``x``:
    ``(-x, x)``, or ``(low, x)`` ordered when ``low`` is given."""
    if param is None:
        return None
    if isinstance(param, numbers.Real):
        if low is None:
            return -param, +param
        return (low, param) if low < param else (param, low)
    if isinstance(param, Sequence):
        if len(param) != 2:
            raise ValueError("to_tuple expects 1 or 2 values")
        return tuple(param)
    raise ValueError("Argument param must be either scalar (int, float) or tuple")


def check_values(value, name, offset=1, bounds=(0, float("inf")), clip=True):
    """torchvision's ColorJitter rule: one number ``x`` -> ``[offset - x, offset + x]``
    (the low end clipped at 0 with ``clip``), a pair checked against ``bounds``."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be non negative.")
        value = [offset - value, offset + value]
        if clip:
            value[0] = max(value[0], 0)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        if not bounds[0] <= value[0] <= value[1] <= bounds[1]:
            raise ValueError(f"{name} values should be between {bounds}")
    else:
        raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
    return value
