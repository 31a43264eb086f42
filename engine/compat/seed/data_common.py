"""The seed's ``engine.data.common.ToIterableDataset`` (detectron2's)."""
import itertools

import torch.utils.data as data
from torch.utils.data.sampler import Sampler

__all__ = ["ToIterableDataset"]


def _shard_for_this_worker(iterable):
    """Inside a DataLoader worker, every ``num_workers``-th item from the worker's id:
    each worker runs its own copy of the sampler, and without this all of them would
    load the same samples."""
    worker = data.get_worker_info()
    if worker is None or worker.num_workers == 1:
        yield from iterable
    else:
        yield from itertools.islice(iterable, worker.id, None, worker.num_workers)


class ToIterableDataset(data.IterableDataset):
    """A map-style ``dataset`` read in the order of ``sampler``, as an iterable dataset.

    ``shard_sampler``: split the sampler's indices over DataLoader workers (True for
    samplers that do not do it themselves, which is all of ``engine.data.samplers``)."""

    def __init__(self, dataset: data.Dataset, sampler: Sampler, shard_sampler: bool = True):
        if isinstance(dataset, data.IterableDataset):
            raise TypeError(f"ToIterableDataset needs a map-style dataset, got {type(dataset).__name__}")
        if not isinstance(sampler, Sampler):
            raise TypeError(f"ToIterableDataset needs a torch Sampler, got {type(sampler).__name__}")
        self.dataset = dataset
        self.sampler = sampler
        self.shard_sampler = shard_sampler

    def __iter__(self):
        indices = _shard_for_this_worker(self.sampler) if self.shard_sampler else self.sampler
        for index in indices:
            yield self.dataset[index]

    def __len__(self):
        return len(self.sampler)
