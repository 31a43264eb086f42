"""The base of every pixel (colour) transform, and the seed's ``BasicColorTransform``.

A pixel transform changes the values of the images listed in ``color_fields`` and
nothing else: masks (even if listed), boxes, points and other image fields keep their
values. It is applied with probability ``p``; its random parameters are drawn once per
sample and the same ones are applied to every colour field, so paired views (an image
and its reference, two frames) stay consistent.

Subclasses implement ``apply(img, **params)`` and draw their parameters in one of two
ways:

- ``sample_params(results, rng)`` (the built-ins): draws from the ``rng`` the engine
  passes, a generator seeded from (seed, epoch, sample index).
- ``get_params(results)`` (the seed's hook, which user code writes with ``random`` or
  ``np.random``): called just after Python's and NumPy's global generators are seeded
  from that same ``rng``, so a user transform written as in the seed's documentation is
  exactly as reproducible as a built-in one and worker-count invariant. The generators
  are left in that seeded state rather than put back: saving and restoring them costs
  about 0.4 ms per call against 12 us for seeding, and inside the engine's loader they
  are reseeded before every sample (and restored per batch in the main process) anyway.
"""
import numbers
import random
from typing import Any, Dict

import numpy as np

from engine.utils.errors import ConfigError

from .base import BaseTransform, as_rng, check_prob, check_range
from .fields import color_keys

__all__ = [
    "BasicColorTransform", "limit_range", "seed_global_random",
    "one_plus_minus", "plus_minus", "zero_to", "one_to",
]


def seed_global_random(rng: np.random.Generator) -> None:
    """Seed ``random`` and ``np.random`` from one draw of ``rng``."""
    seed = int(rng.integers(2**63))
    random.seed(seed)
    np.random.seed(seed % 2**32)


class BasicColorTransform(BaseTransform):
    """``t(results[, rng])``: with probability ``p``, ``results[k] = apply(results[k],
    **params)`` for every colour field ``k``, ``params`` drawn once per call."""

    def __init__(self, p: float = 1.0):
        self.p = check_prob(type(self).__name__, "p", p)

    def apply(self, img: np.ndarray, **params) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement apply(img, **params)")

    def get_params(self, results: dict) -> Dict[str, Any]:
        """The seed's hook: draw with ``random`` / ``np.random`` (seeded for you)."""
        return {}

    def sample_params(self, results: dict, rng: np.random.Generator) -> Dict[str, Any]:
        """Draw this call's parameters from ``rng``; the default runs :meth:`get_params`
        with the global generators just seeded from ``rng``."""
        seed_global_random(rng)
        return self.get_params(results)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        keys = color_keys(results)
        if not keys:
            return results
        params = self.sample_params(results, rng)
        for key in keys:
            results[key] = self.apply(results[key], **params)
        return results


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def limit_range(owner: str, name: str, value, *, single, low=None, high=None, integer=False):
    """A ``[min, max]`` range given, as in the seed, either as the pair itself or as one
    number ``x`` that ``single(x)`` turns into the pair (``1 +- x``, ``+- x``, ``[0, x]``
    depending on the parameter). Both forms must lie within ``[low, high]``."""
    if _is_number(value):
        if value < 0:
            raise ConfigError(
                f"{owner}: {name} given as one number must be non-negative, got {value!r}")
        lo, hi = single(value)
        value = [int(lo), int(hi)] if integer else [lo, hi]
    return check_range(owner, name, value, low=low, high=high, integer=integer)


def one_plus_minus(x):
    """``x -> [max(0, 1 - x), 1 + x]`` (factors: brightness, contrast, saturation); the
    lower end is clipped at 0, as in the seed."""
    return max(0.0, 1.0 - x), 1.0 + x


def plus_minus(x):
    """``x -> [-x, x]`` (shifts: hue, brightness/contrast offsets)."""
    return -x, x


def zero_to(x):
    """``x -> [0, x]`` (blur size and sigma, sharpen alpha and lightness)."""
    return 0, x


def one_to(x):
    """``x -> [1, x]`` (CLAHE clip limit), or ``[x, 1]`` when ``x < 1``."""
    return (1.0, x) if x >= 1 else (x, 1.0)
