"""Random composition in config: ``OneOf``, ``SomeOf``, ``RandomApply``.

The names albumentations, mmcv and torchvision users know, written as config entries
whose ``transforms`` key holds a nested transform list::

    dict(name='OneOf', transforms=[dict(name='RandomGaussianBlur', p=1.0),
                                   dict(name='RandomSharpen', p=1.0)])

Every choice is drawn from the sample's ``rng`` (so it is seeded like everything else),
and the chosen transforms are called as they are: their own ``p`` still applies (give
them ``p=1.0`` to make the composition's choice final). Nested transforms that mix
samples (``MosaicTransform``) still get the dataset: they are reachable through each
composition's ``transforms``.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from .base import BaseTransform, as_rng, check_prob
from .build import TRANSFORM_REGISTRY, build_transforms
from .compose import Compose

__all__ = ["OneOf", "SomeOf", "RandomApply"]


def _children(owner: str, transforms):
    if not isinstance(transforms, (list, tuple)) or not transforms:
        raise ConfigError(
            f"{owner}: transforms must be a non-empty list of transforms (config dicts with "
            f"a 'name' key), got {transforms!r}")
    return build_transforms(list(transforms), where=f"{owner}.transforms")


def _singles(pipeline: Compose):
    """Each transform as its own one-step Compose (which knows how to pass it the rng)."""
    return [Compose([t]) for t in pipeline]


@TRANSFORM_REGISTRY.register()
class RandomApply(BaseTransform):
    """With probability ``p``, apply all of ``transforms`` in order (torchvision's
    ``RandomApply``)."""

    def __init__(self, transforms, p: float = 0.5):
        name = type(self).__name__
        self.transforms = _children(name, transforms)
        self.p = check_prob(name, "p", p)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() < self.p:
            results = self.transforms(results, rng)
        return results


@TRANSFORM_REGISTRY.register()
class OneOf(BaseTransform):
    """With probability ``p``, apply one of ``transforms``, chosen with probabilities
    proportional to ``weights`` (default: uniform)."""

    def __init__(self, transforms, weights=None, p: float = 1.0):
        name = type(self).__name__
        self.transforms = _children(name, transforms)
        self._each = _singles(self.transforms)
        self.p = check_prob(name, "p", p)
        n = len(self.transforms)
        if weights is None:
            self.weights = None
        else:
            if (not isinstance(weights, (list, tuple)) or len(weights) != n
                    or not all(isinstance(w, numbers.Real) and not isinstance(w, bool)
                               and w >= 0 for w in weights) or sum(weights) <= 0):
                raise ConfigError(
                    f"{name}: weights must be {n} non-negative numbers (one per transform) "
                    f"with a positive sum, got {weights!r}")
            self.weights = [float(w) for w in weights]
        self._probs = None if weights is None else np.asarray(self.weights) / sum(self.weights)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        index = int(rng.choice(len(self.transforms), p=self._probs))
        return self._each[index](results, rng)


@TRANSFORM_REGISTRY.register()
class SomeOf(BaseTransform):
    """With probability ``p``, apply ``n`` of ``transforms`` (``n`` an int, or ``[min, max]``
    to draw it), chosen without repetition unless ``replace``; the chosen ones run in the
    order they are listed, so a resize listed after a flip still comes after it."""

    def __init__(self, transforms, n=1, replace: bool = False, p: float = 1.0):
        name = type(self).__name__
        self.transforms = _children(name, transforms)
        self._each = _singles(self.transforms)
        self.p = check_prob(name, "p", p)
        self.replace = bool(replace)
        count = len(self.transforms)
        pair = [n, n] if isinstance(n, numbers.Integral) and not isinstance(n, bool) else n
        top = None if self.replace else count
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                           for v in pair)
                or not 0 <= pair[0] <= pair[1] or (top is not None and pair[1] > top)):
            limit = f" (at most {count} without replace)" if top is not None else ""
            raise ConfigError(
                f"{name}: n must be an int or a pair [min, max] of ints with "
                f"0 <= min <= max{limit}, got {n!r}")
        self.n = (int(pair[0]), int(pair[1]))

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return results
        k = int(rng.integers(self.n[0], self.n[1] + 1))
        chosen = np.sort(rng.choice(len(self.transforms), size=k, replace=self.replace))
        for index in chosen:
            results = self._each[int(index)](results, rng)
        return results
