"""Chain transforms over one results dict, threading a single random generator through.

The generator is the point: the engine seeds it from (seed, epoch, sample index), so the
augmentation a sample receives does not depend on which worker loads it or on how many
samples were drawn before it. Passing one generator down the chain (instead of each
transform keeping its own) keeps that a pure function of the generator's seed.
"""
import inspect
from typing import Callable, Iterable

import numpy as np

from .base import as_rng

__all__ = ["Compose", "global_generator", "record_shapes"]

_POSITIONAL, _KEYWORD, _NONE = "positional", "keyword", "none"
_GLOBAL = [None]  # the Generator over NumPy's global bit generator, made once


def global_generator() -> np.random.Generator:
    """A ``Generator`` drawing from NumPy's global stream (the one ``np.random.seed``
    seeds, and the loader seeds per sample), for a pipeline run without one; remade only
    if ``np.random.set_bit_generator`` replaced that stream. It costs nothing to make
    (a new seeded generator per call: 35-50 us, doc/benchmarks.md)."""
    bit_generator = np.random.get_bit_generator()
    gen = _GLOBAL[0]
    if gen is None or gen.bit_generator is not bit_generator:
        gen = _GLOBAL[0] = np.random.Generator(bit_generator)
    return gen


def record_shapes(results: dict) -> dict:
    """What a pipeline writes before its first transform (as the seed's
    ``TransformCompose`` does): ``img_shape`` = the ``(h, w)`` of the first of
    ``img_fields`` / ``color_fields`` (``img`` when neither is listed), and
    ``ori_shape`` = the same unless the dataset gave one (the seed overwrote it:
    doc/seed.md). Projects read both after the pipeline (SDDet's ``img_meta``) without
    ever setting them, and a pipeline without a geometric transform would otherwise
    leave ``img_shape`` unset."""
    fields = results.get("img_fields") or results.get("color_fields") or ("img",)
    first = results.get(fields[0]) if fields else None
    shape = getattr(first, "shape", None)
    if shape is not None and len(shape) >= 2:
        results["img_shape"] = (int(shape[0]), int(shape[1]))
        results.setdefault("ori_shape", results["img_shape"])
    return results


def _rng_mode(transform: Callable) -> str:
    """How ``transform`` takes the generator: as its second positional argument, as the
    keyword ``rng``, or not at all (a user transform written as ``__call__(results)``,
    which then must not be random or must accept non-reproducible randomness)."""
    try:
        params = inspect.signature(transform).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature
        return _NONE
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params):
        return _POSITIONAL
    if any(p.name == "rng" or p.kind == p.VAR_KEYWORD for p in params):
        return _KEYWORD
    return _NONE


class Compose:
    """Apply ``transforms`` in order: ``results = t(results, rng)`` for each.

    ``rng`` is a ``numpy.random.Generator`` (an int seed is accepted too); ``None`` uses a
    fresh, OS-seeded generator, which is fine for trying a pipeline out but not
    reproducible. Each transform must return the results dict.
    """

    def __init__(self, transforms: Iterable[Callable] = ()):
        self.transforms = list(transforms or [])
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(
                    f"Compose: transform [{i}] is not callable: {t!r}. Build transforms "
                    f"from config dicts with engine.transforms.build_transforms."
                )
        self._modes = [_rng_mode(t) for t in self.transforms]

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        return self.apply(results, as_rng(rng))

    def apply(self, results: dict, rng: np.random.Generator) -> dict:
        """``__call__`` with ``rng`` a ``Generator`` already."""
        for t, mode in zip(self.transforms, self._modes):
            if mode == _POSITIONAL:
                out = t(results, rng)
            elif mode == _KEYWORD:
                out = t(results, rng=rng)
            else:
                out = t(results)
            if out is None:
                raise TypeError(
                    f"transform {t!r} returned None; a transform must return the "
                    f"results dict it was given (usually `return results`)"
                )
            results = out
        return results

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self):
        return iter(self.transforms)

    def __getitem__(self, index):
        return self.transforms[index]

    def __repr__(self) -> str:
        if not self.transforms:
            return "Compose([])"
        body = "".join(f"    {t!r},\n" for t in self.transforms)
        return f"Compose([\n{body}])"
