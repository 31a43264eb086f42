"""Batch samplers that make the data order a pure function of (seed, iteration).

Training reads one endless stream: the concatenation of per-epoch permutations, each
drawn from a generator seeded by (seed, epoch). Optimizer step ``it`` consumes the global
batch at stream positions ``[it * G, (it + 1) * G)`` with ``G = batch per process x world
size``; that block is cut into ``k`` accumulation micro-batches and each micro-batch into
one contiguous slice per rank. Hence:

* resuming at iteration ``it`` starts the stream at ``it * G`` without touching, let alone
  loading, the samples before it;
* N processes x batch B see, per step, exactly the samples 1 process x batch N*B sees;
* k micro-batches of B/k see exactly what one batch of B sees.
"""
from typing import Iterator, List, Tuple

import torch
from torch.utils.data import Sampler

from ..utils.errors import ConfigError
from ..utils.rng import derive_seed

__all__ = ["TrainBatchSampler", "InferenceBatchSampler", "epoch_at"]

Key = Tuple[int, int]
ORDER_STREAM = 0x4F524452  # domain tag: data-order seeds never equal augmentation seeds


def epoch_at(iteration: int, global_batch: int, dataset_size: int) -> int:
    """The epoch step ``iteration`` (0-based) draws from: samples are consumed in global
    batches from one epoch's order after another."""
    return iteration * global_batch // dataset_size


class TrainBatchSampler(Sampler):
    def __init__(self, dataset_size: int, batch_size: int, *, seed: int, start_iter: int = 0,
                 accumulation: int = 1, rank: int = 0, world_size: int = 1, shuffle: bool = True):
        if dataset_size <= 0:
            raise ConfigError("the training dataset is empty (len() == 0)")
        if batch_size <= 0:
            raise ConfigError(f"solver.train_per_batch must be a positive integer, got {batch_size}")
        if accumulation <= 0:
            raise ConfigError(
                f"solver.gradient_accumulation_batch must be a positive integer, got {accumulation}")
        if batch_size % accumulation:
            raise ConfigError(
                f"solver.train_per_batch ({batch_size}) must be divisible by "
                f"solver.gradient_accumulation_batch ({accumulation})"
            )
        self.n = dataset_size
        self.micro = batch_size // accumulation
        self.accumulation = accumulation
        self.rank, self.world_size = rank, world_size
        self.global_batch = batch_size * world_size
        self.seed, self.shuffle = seed, shuffle
        self.start_iter = start_iter
        self._perm_epoch, self._perm = -1, None

    def epoch_at(self, iteration: int) -> int:
        return epoch_at(iteration, self.global_batch, self.n)

    def _order(self, epoch: int) -> List[int]:
        if epoch != self._perm_epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(derive_seed(self.seed, ORDER_STREAM, epoch))
                self._perm = torch.randperm(self.n, generator=g).tolist()
            else:
                self._perm = list(range(self.n))
            self._perm_epoch = epoch
        return self._perm

    def _keys(self, start: int, count: int) -> List[Key]:
        """The keys at stream positions ``[start, start + count)``: a slice of each
        epoch's order the range touches (one, or two at an epoch's end), not a look-up
        per position."""
        keys: List[Key] = []
        while count > 0:
            epoch, offset = divmod(start, self.n)
            take = min(count, self.n - offset)
            keys += [(epoch, index) for index in self._order(epoch)[offset:offset + take]]
            start, count = start + take, count - take
        return keys

    def __iter__(self) -> Iterator[List[Key]]:
        it = self.start_iter
        micro_global = self.micro * self.world_size
        while True:
            base = it * self.global_batch
            for j in range(self.accumulation):
                start = base + j * micro_global + self.rank * self.micro
                yield self._keys(start, self.micro)
            it += 1


class InferenceBatchSampler(Sampler):
    """In-order batches of ``(0, index)`` keys over this rank's contiguous shard."""

    def __init__(self, dataset_size: int, batch_size: int, rank: int = 0, world_size: int = 1):
        if batch_size <= 0:
            raise ConfigError(f"solver.test_per_batch must be a positive integer, got {batch_size}")
        per_rank = -(-dataset_size // world_size)
        self.indices = list(range(rank * per_rank, min(dataset_size, (rank + 1) * per_rank)))
        self.batch_size = batch_size

    def __len__(self):
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator[List[Key]]:
        for i in range(0, len(self.indices), self.batch_size):
            yield [(0, idx) for idx in self.indices[i:i + self.batch_size]]
