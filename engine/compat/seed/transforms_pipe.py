"""The seed's ``TransformCompose``: a pipeline built from a config list, called as
``results = t(results)``.

It is our :class:`Compose` built by :func:`build_transforms` (same registry, same checks,
errors naming ``TransformCompose[i]``). The seed calls it without a generator; then the
transforms draw from NumPy's global generator, which the engine's data loader seeds from
(seed, epoch, sample index) before every sample. So a seed-style dataset that keeps a
``TransformCompose`` and calls it in ``__getitem__`` gets the same reproducible,
worker-count invariant augmentation as an :class:`EngineDataSet` pipeline: the same
global seed gives the same augmentation. Given to ``EngineDataSet(transformer=...)`` it
is used as the dataset's pipeline directly (with the loader's generator).

Why the global stream itself rather than a new generator seeded from it (as until
issue 23): ``default_rng(np.random.randint(0, 2**32, size=4))`` builds a SeedSequence
and a PCG64 on every call, 35-50 us, more than a horizontal flip of a 480x640 image
(doc/benchmarks.md). A ``Generator`` over the global bit generator costs nothing to
make (it is cached), and it is what the seed's own transforms did: draw from
``np.random``. The stream after the call now depends on how much the pipeline drew
(before, always 8 words), which changes no guarantee: it is a function of the seed.
"""
import numpy as np

from ...transforms.base import as_rng
from ...transforms.build import build_transforms
from ...transforms.compose import Compose, global_generator, record_shapes

__all__ = ["TransformCompose", "global_generator", "record_shapes"]


class TransformCompose(Compose):
    def __init__(self, transformers):
        super().__init__(build_transforms(transformers, where="TransformCompose"))

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        record_shapes(results)
        return self.apply(results, global_generator() if rng is None else as_rng(rng))
