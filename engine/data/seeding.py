"""Augmentation randomness as a pure function of (seed, epoch, sample index).

The sampler hands the loader ``(epoch, index)`` keys instead of bare indices;
:class:`SeededSamples` turns each key into a dedicated ``numpy.random.Generator`` for the
transform pipeline and, for user code that draws from the global generators
(``random``, ``np.random``, ``torch``), seeds those too for the duration of that one
sample and then puts them back. So a sample comes out the same whichever worker loads
it, whatever ``num_workers`` is, and whether the run was resumed or not, and loading a
sample in the main process never disturbs the training RNG (dropout, init).

Seeding and restoring the three global generators is most of that price (~20 us a
sample, doc/benchmarks.md). A dataset whose ``__getitem__`` draws only from
``self.sample_rng`` says so with ``uses_global_rng = False`` and skips it; the loader
checks the claim on the first batch each process loads (:class:`GlobalRngWatch`).
"""
import hashlib
import random
import struct
from contextlib import contextmanager
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from ..utils.errors import EngineError
from .failures import DataLoadingError, sample_name

__all__ = ["SampleKeys", "SeededSamples", "GlobalRngWatch", "global_rng_states", "saved_global_rng",
           "seed_global_rng"]


AUGMENT_STREAM = 0x41554731  # domain tag: augmentation seeds never equal data-order seeds
_WORD = 0xFFFFFFFFFFFFFFFF


class SampleKeys:
    """The randomness of sample (epoch, index): a 63-bit seed for the global generators
    and a PCG64 state for the sample's ``numpy.random.Generator``, from one BLAKE2b
    digest of (seed, stream, epoch, index).

    Why not ``np.random.default_rng(seed)`` per sample: it costs 8.4 us (a SeedSequence,
    a new bit generator, a new Generator); re-keying one PCG64 in place costs 1 us, and
    the hash is 0.6 us from a per-epoch prefix. Per loaded sample this is the engine's
    whole price for exact, worker- and world-size-invariant augmentation
    (doc/benchmarks.md, "The hook loop")."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._epoch, self._prefix = None, None
        self._bit_generator = np.random.PCG64(0)
        self.generator = np.random.Generator(self._bit_generator)

    def digest(self, epoch: int, index: int) -> bytes:
        if epoch != self._epoch:
            self._prefix = hashlib.blake2b(
                struct.pack("<4Q", 4, self.seed & _WORD, AUGMENT_STREAM, int(epoch) & _WORD), digest_size=40)
            self._epoch = epoch
        h = self._prefix.copy()
        h.update((int(index) & _WORD).to_bytes(8, "little"))
        return h.digest()

    def key(self, epoch: int, index: int) -> Tuple[int, np.random.Generator]:
        """(the global generators' seed, the sample's generator re-keyed for it). The
        generator object is reused: it is valid until the next call."""
        d = self.digest(epoch, index)
        self._bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(d[:16], "little"), "inc": int.from_bytes(d[16:32], "little") | 1},
            "has_uint32": 0, "uinteger": 0}
        return int.from_bytes(d[32:], "little") >> 1, self.generator


def global_rng_states() -> tuple:
    """The python, numpy (legacy tuple form: the cheaper one) and torch-CPU generators' states."""
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


@contextmanager
def saved_global_rng(enabled: bool = True):
    """Put the python/numpy/torch-CPU generators back as they were when the block ends."""
    if not enabled:
        yield
        return
    py_state, np_state, torch_state = global_rng_states()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


def seed_global_rng(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)


class GlobalRngWatch:
    """Holds a dataset to its ``uses_global_rng = False``: compares the python, numpy and
    torch-CPU generators before and after each sample and names the first one a sample
    moved. Comparing the states costs ~80 us a sample, so the loader watches only the
    first batch each process loads: a dataset that draws from a global generator on
    every sample (the common mistake: ``np.random.rand()`` in a transform) is caught at
    once; one that draws only on rare samples is not, and would lose exact resume."""

    NAMES = ("python's random", "numpy's np.random", "torch's CPU generator")

    states = staticmethod(global_rng_states)

    @classmethod
    def moved(cls, before: tuple) -> Optional[str]:
        """The name of the first generator whose state differs from ``before``, or None."""
        py, nps, tch = cls.states()
        # numpy's legacy tuple: ('MT19937', key array, pos, has_gauss, cached_gaussian)
        same = (py == before[0],
                np.array_equal(nps[1], before[1][1]) and nps[2:] == before[1][2:],
                torch.equal(tch, before[2]))
        return next((name for name, ok in zip(cls.NAMES, same) if not ok), None)


class SeededSamples(Dataset):
    """Wraps a dataset so ``self[(epoch, index)]`` loads ``dataset[index]`` deterministically.

    The loader fetches whole batches through ``__getitems__``: the global generators are
    saved and restored once per batch (numpy's get/set_state dominate the cost), not once
    per sample, and not at all inside a DataLoader worker, whose generators drive no
    training.

    A dataset with ``uses_global_rng = False`` (:class:`~engine.data.EngineDataSet`)
    gets its ``sample_rng`` only: the global generators are neither seeded nor restored,
    and the first batch each process loads is watched (:class:`GlobalRngWatch`).

    A sample that raises is re-raised as a :class:`DataLoadingError` naming ``where``
    (the config key), the index and the dataset's ``describe_sample``. ``loading``, set
    by the loader when it has workers, is a shared array with one slot per worker: the
    index it is loading (-1: none), read by the main process when a worker dies.
    """

    def __init__(self, dataset, seed: int, where: str = "the dataset"):
        self.dataset = dataset
        self.seed = int(seed)
        self.where = where
        self.loading = None
        self.keys = SampleKeys(seed)
        self.seeds_global_rng = bool(getattr(dataset, "uses_global_rng", True))
        self.watching = not self.seeds_global_rng

    def __len__(self):
        return len(self.dataset)

    def __getattr__(self, name: str):
        """The wrapped dataset's own attributes and methods (``loader.dataset.classes``,
        a project's ``loader.dataset.to_lines(...)``) read through the wrapper."""
        if name.startswith("__") or name in ("dataset", "seed", "where", "loading", "keys",
                                             "seeds_global_rng", "watching"):
            raise AttributeError(name)  # not set yet (unpickling): no recursion
        return getattr(self.dataset, name)

    def __getitem__(self, key: Tuple[int, int]):
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: List[Tuple[int, int]]) -> list:
        if self.seeds_global_rng:
            with saved_global_rng(enabled=get_worker_info() is None):
                return self._load(keys)
        if self.watching:
            return self._watched_load(keys)
        return self._load(keys)

    def _watched_load(self, keys: List[Tuple[int, int]]) -> list:
        samples = []
        for epoch, index in keys:
            before = GlobalRngWatch.states()
            samples += self._load([(epoch, index)])
            moved = GlobalRngWatch.moved(before)
            if moved is not None:
                raise EngineError(
                    f"{self.where}: {type(self.dataset).__name__} sets uses_global_rng = False, but loading "
                    f"{sample_name(self.dataset, index)} drew from {moved}; draw from self.sample_rng "
                    f"(a numpy Generator), or remove uses_global_rng = False so that the loader seeds the "
                    f"global generators per sample")
        self.watching = False
        return samples

    def _load(self, keys: List[Tuple[int, int]]) -> list:
        """The samples of ``keys``, in order. One loop over the batch, not a method call
        per sample: this runs for every sample of every step (doc/benchmarks.md)."""
        worker = get_worker_info() if self.loading is not None else None
        samples = []
        for epoch, index in keys:
            if worker is not None:
                self.loading[worker.id] = index
            try:
                samples.append(self._seeded_load(epoch, index))
            except (EngineError, DataLoadingError):
                raise  # already says what and where
            except Exception as e:
                raise DataLoadingError(
                    f"{self.where}: {sample_name(self.dataset, index)} failed to load: "
                    f"{type(e).__name__}: {e}") from e
            if worker is not None:
                self.loading[worker.id] = -1
        return samples

    def _seeded_load(self, epoch: int, index: int):
        s, generator = self.keys.key(epoch, index)
        if self.seeds_global_rng:
            seed_global_rng(s)
        if not hasattr(self.dataset, "sample_rng"):
            return self.dataset[index]
        self.dataset.sample_rng = generator
        try:
            return self.dataset[index]
        finally:
            self.dataset.sample_rng = None
