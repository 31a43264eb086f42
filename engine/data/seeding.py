"""Augmentation randomness as a pure function of (seed, epoch, sample index).

The sampler hands the loader ``(epoch, index)`` keys instead of bare indices;
:class:`SeededSamples` turns each key into a dedicated ``numpy.random.Generator`` for the
transform pipeline and, for user code that draws from the global generators
(``random``, ``np.random``, ``torch``), seeds those too for the duration of that one
sample and then puts them back. So a sample comes out the same whichever worker loads
it, whatever ``num_workers`` is, and whether the run was resumed or not, and loading a
sample in the main process never disturbs the training RNG (dropout, init).
"""
import random
from contextlib import contextmanager
from typing import Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..utils.rng import derive_seed

__all__ = ["SeededSamples", "sample_seed", "global_rng_scope"]


AUGMENT_STREAM = 0x41554731  # domain tag: augmentation seeds never equal data-order seeds


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return derive_seed(seed, AUGMENT_STREAM, epoch, index)


@contextmanager
def global_rng_scope(seed: int):
    """Seed python/numpy/torch-CPU generators inside the block, restore them after."""
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


class SeededSamples(Dataset):
    """Wraps a dataset so ``self[(epoch, index)]`` loads ``dataset[index]`` deterministically."""

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key: Tuple[int, int]):
        epoch, index = key
        s = sample_seed(self.seed, epoch, index)
        with global_rng_scope(s):
            if hasattr(self.dataset, "sample_rng"):
                self.dataset.sample_rng = np.random.default_rng(s)
            try:
                return self.dataset[index]
            finally:
                if hasattr(self.dataset, "sample_rng"):
                    self.dataset.sample_rng = None
