"""The seed's samplers (``engine.data.samplers``, detectron2's plus mmdet's GroupSampler).

Semantics are the seed's: an endless stream of per-epoch permutations strided over ranks,
a random subset, repeat factors, grouped batches, contiguous inference shards. The order
itself comes from the engine's data-order mechanism (``engine.data.sampler``): epoch
``e`` is drawn from a generator seeded by ``derive_seed(seed, ORDER_STREAM, e)``, so any
epoch is known without replaying the ones before it, and every rank, and every
DataLoader worker running a copy of a sampler, draws the same one.
"""
import itertools
import logging
import math
from collections import defaultdict
from typing import Iterator, List, Optional

import numpy as np
import torch
from torch.utils.data.sampler import Sampler

from ...data.sampler import ORDER_STREAM, InferenceBatchSampler, TrainBatchSampler
from ...utils.rng import derive_seed
from . import comm

__all__ = ["TrainingSampler", "GroupSampler", "RandomSubsetTrainingSampler",
           "RepeatFactorTrainingSampler", "InferenceSampler"]

logger = logging.getLogger(__name__)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, ORDER_STREAM, epoch))


class TrainingSampler(Sampler):
    """Indices ``stream[rank::world_size]`` of the endless stream
    ``perm_0(range(size)) + perm_1(range(size)) + ...`` (``range`` when not shuffled).

    ``seed`` None: a seed shared by all ranks (every rank must construct it). It does
    not shard over DataLoader workers (see ToIterableDataset)."""

    def __init__(self, size: int, shuffle: bool = True, seed: Optional[int] = None, rank=None,
                 world_size=None):
        if not isinstance(size, int):
            raise TypeError(f"TrainingSampler(size=) expects an int. Got type {type(size)}.")
        if size <= 0:
            raise ValueError(f"TrainingSampler(size=) expects a positive int. Got {size}.")
        self._size = size
        self._shuffle = shuffle
        self._seed = int(comm.shared_random_seed() if seed is None else seed)
        self._rank = comm.get_rank() if rank is None else rank
        self._world_size = comm.get_world_size() if world_size is None else world_size

    def __iter__(self) -> Iterator[int]:
        # our training batch sampler with batch 1 per rank is exactly this stride
        batches = TrainBatchSampler(self._size, 1, seed=self._seed, rank=self._rank,
                                    world_size=self._world_size, shuffle=self._shuffle)
        for [(_, index)] in batches:
            yield index


class RandomSubsetTrainingSampler(TrainingSampler):
    """A TrainingSampler over a fixed random ``subset_ratio`` of the indices."""

    def __init__(self, size: int, subset_ratio: float, shuffle: bool = True,
                 seed_shuffle: Optional[int] = None, seed_subset: Optional[int] = None):
        super().__init__(size=size, shuffle=shuffle, seed=seed_shuffle)
        if not 0.0 < subset_ratio <= 1.0:
            raise ValueError(f"subset_ratio must be in (0, 1], got {subset_ratio}")
        self._size_subset = int(size * subset_ratio)
        if self._size_subset <= 0:
            raise ValueError(f"subset_ratio {subset_ratio} of {size} samples selects none")
        self._seed_subset = int(comm.shared_random_seed() if seed_subset is None else seed_subset)
        g = torch.Generator().manual_seed(self._seed_subset)
        self._indexes_subset = torch.randperm(self._size, generator=g)[: self._size_subset].tolist()
        logger.info("Using RandomSubsetTrainingSampler: %d of the %d samples",
                    self._size_subset, self._size)

    def __iter__(self) -> Iterator[int]:
        batches = TrainBatchSampler(self._size_subset, 1, seed=self._seed, rank=self._rank,
                                    world_size=self._world_size, shuffle=self._shuffle)
        for [(_, position)] in batches:
            yield self._indexes_subset[position]


class RepeatFactorTrainingSampler(Sampler):
    """Like TrainingSampler, but sample ``i`` appears ``repeat_factors[i]`` times per epoch
    in expectation (stochastic rounding of the fractional part, redrawn every epoch)."""

    def __init__(self, repeat_factors, *, shuffle=True, seed=None):
        self._shuffle = shuffle
        self._seed = int(comm.shared_random_seed() if seed is None else seed)
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()
        repeat_factors = torch.as_tensor(repeat_factors, dtype=torch.float32)
        self._int_part = torch.trunc(repeat_factors)
        self._frac_part = repeat_factors - self._int_part

    @staticmethod
    def repeat_factors_from_category_frequency(dataset_dicts, repeat_thresh):
        """Per-image ``max(1, sqrt(repeat_thresh / f(c)))`` over its rarest category ``c``,
        ``f(c)`` being the fraction of images containing ``c`` (LVIS, Appendix B.2)."""
        category_freq = defaultdict(int)
        for record in dataset_dicts:
            for cat_id in {ann["category_id"] for ann in record["annotations"]}:
                category_freq[cat_id] += 1
        num_images = len(dataset_dicts)
        category_rep = {c: max(1.0, math.sqrt(repeat_thresh / (n / num_images)))
                        for c, n in category_freq.items()}
        factors = [max({category_rep[a["category_id"]] for a in record["annotations"]}, default=1.0)
                   for record in dataset_dicts]
        return torch.tensor(factors, dtype=torch.float32)

    def _get_epoch_indices(self, generator: torch.Generator) -> torch.Tensor:
        rands = torch.rand(len(self._frac_part), generator=generator)
        rep_factors = (self._int_part + (rands < self._frac_part).float()).long()
        return torch.repeat_interleave(torch.arange(len(rep_factors)), rep_factors)

    def _infinite_indices(self) -> Iterator[int]:
        for epoch in itertools.count():
            g = _epoch_generator(self._seed, epoch)
            indices = self._get_epoch_indices(g)
            if self._shuffle:
                indices = indices[torch.randperm(len(indices), generator=g)]
            yield from indices.tolist()

    def __iter__(self) -> Iterator[int]:
        yield from itertools.islice(self._infinite_indices(), self._rank, None, self._world_size)


class GroupSampler(Sampler):
    """One epoch of indices in blocks of ``samples_per_gpu`` whose samples share
    ``dataset.flag`` (e.g. landscape/portrait), each group padded up to whole blocks
    with random repeats, the blocks in random order. Every iteration is a new epoch.

    With ``rank``/``world_size``, rank ``r`` gets blocks ``r, r + world_size, ...`` (the
    block list padded with its first blocks to a multiple of ``world_size``): whole
    blocks, so a rank's batch still holds one group, and every rank as many. ``seed``
    (an addition) None: a seed shared by all ranks, as TrainingSampler's."""

    def __init__(self, dataset, samples_per_gpu=1, rank=None, world_size=None, *, seed=None):
        if not hasattr(dataset, "flag"):
            raise AttributeError(f"GroupSampler needs dataset.flag (the group of each sample); "
                                 f"{type(dataset).__name__} has none")
        self.dataset = dataset
        self.samples_per_gpu = int(samples_per_gpu)
        self.flag = np.asarray(dataset.flag).astype(np.int64)
        self.group_sizes = np.bincount(self.flag)
        self.rank, self.world_size = rank, world_size
        self.seed = int(comm.shared_random_seed() if seed is None else seed)
        self.epoch = 0
        self.num_blocks = sum(int(math.ceil(size / self.samples_per_gpu)) for size in self.group_sizes)
        self.num_samples = self.num_blocks * self.samples_per_gpu
        if self._sharded():
            self.num_samples = int(math.ceil(self.num_blocks / world_size)) * self.samples_per_gpu

    def _sharded(self) -> bool:
        return self.rank is not None and self.world_size is not None

    def _blocks(self, epoch: int) -> List[np.ndarray]:
        rng = np.random.default_rng(derive_seed(self.seed, ORDER_STREAM, epoch))
        b = self.samples_per_gpu
        blocks = []
        for group, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            indices = rng.permutation(np.flatnonzero(self.flag == group))
            extra = int(math.ceil(size / b)) * b - size
            indices = np.concatenate([indices, rng.choice(indices, extra)])
            blocks += [indices[i:i + b] for i in range(0, len(indices), b)]
        return [blocks[i] for i in rng.permutation(len(blocks))]

    def __iter__(self) -> Iterator[int]:
        blocks = self._blocks(self.epoch)
        self.epoch += 1
        if self._sharded():
            total = len(blocks) + (-len(blocks) % self.world_size)
            blocks = [blocks[i % len(blocks)] for i in range(self.rank, total, self.world_size)]
        return iter(np.concatenate(blocks).astype(np.int64).tolist())

    def __len__(self) -> int:
        return self.num_samples


class InferenceSampler(Sampler):
    """This rank's contiguous shard of ``range(size)``: every index once over all ranks
    (shards may differ in length by one)."""

    def __init__(self, size: int):
        if size <= 0:
            raise ValueError(f"InferenceSampler(size=) expects a positive int. Got {size}.")
        self._size = size
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()
        self._local_indices = InferenceBatchSampler(size, 1, self._rank, self._world_size).indices

    def __iter__(self) -> Iterator[int]:
        yield from self._local_indices

    def __len__(self) -> int:
        return len(self._local_indices)
