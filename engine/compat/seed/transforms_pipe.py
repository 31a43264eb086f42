"""The seed's ``TransformCompose``: a pipeline built from a config list, called as
``results = t(results)``.

It is our :class:`Compose` built by :func:`build_transforms` (same registry, same checks,
errors naming ``TransformCompose[i]``). The seed calls it without a generator; then the
generator is seeded from NumPy's global one, which the engine's data loader seeds from
(seed, epoch, sample index) before every sample. So a seed-style dataset that keeps a
``TransformCompose`` and calls it in ``__getitem__`` gets the same reproducible,
worker-count invariant augmentation as an :class:`EngineDataSet` pipeline. Given to
``EngineDataSet(transformer=...)`` it is used as the dataset's pipeline directly.
"""
import numpy as np

from ...transforms.build import build_transforms
from ...transforms.compose import Compose

__all__ = ["TransformCompose"]


class TransformCompose(Compose):
    def __init__(self, transformers):
        super().__init__(build_transforms(transformers, where="TransformCompose"))

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        if rng is None:
            rng = np.random.default_rng(np.random.randint(0, 2**32, size=4, dtype=np.uint64))
        return super().__call__(results, rng)
