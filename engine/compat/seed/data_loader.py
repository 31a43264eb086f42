"""The seed's ``engine.data.data_loader``: its five loader builders on the engine's loader.

* ``create_iterable_data_loader`` / ``create_distribute_iterable_data_loader``: endless
  shuffled batches (the seed's trainer calls ``next()`` on one iterator for the whole
  run), sharded over ranks, or grouped by ``dataset.flag`` with ``is_group``. They are
  the engine's training loader: ``TrainBatchSampler`` over ``SeededSamples`` in an
  ``EngineLoader``, so order and augmentation follow the engine's seeding and workers
  stop with the run.
* ``create_data_loader`` / ``create_distribute_data_loader``: one shuffled epoch per
  ``iter()``, incomplete last batch dropped, the distributed one a padded equal share per
  rank (torch's DistributedSampler semantics), on the same loader.
* ``create_base_data_loader``: torch's DataLoader with the seed's settings, for any
  dataset and sampler, its per-iteration seed from a private generator.

The shared seed is drawn as the seed's samplers draw it (``shared_random_seed``: the
global numpy generator, which the engine seeds from ``cfg.SEED`` before a run).
"""
import math
import multiprocessing

import torch
from torch.utils.data import DataLoader, Sampler, default_collate

from ...data.build import _leave_stop_signals_to_the_main_process
from ...data.loader import EngineLoader, worker_start_method
from ...data.sampler import ORDER_STREAM, TrainBatchSampler
from ...data.seeding import SeededSamples
from ...utils.rng import derive_seed
from . import comm
from .samplers import GroupSampler

__all__ = ["create_base_data_loader", "create_iterable_data_loader",
           "create_distribute_iterable_data_loader", "create_data_loader",
           "create_distribute_data_loader"]

_LOADER_STREAM = 0x4C4F4144  # domain tag of the plain loader's private generator


def _workers(num_workers) -> int:
    return max(0, min(int(num_workers), multiprocessing.cpu_count()))


def _pin(pin_memory) -> bool:
    """The seed pinned by default; pinning without a GPU only earns torch's warning."""
    return bool(pin_memory) and torch.cuda.is_available()


class _EpochBatches(Sampler):
    """One shuffled epoch per ``iter()``: this rank's share (padded, as DistributedSampler
    pads, so every rank has as many batches) in full batches of ``(epoch, index)``."""

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.size, self.batch_size, self.seed = size, int(batch_size), int(seed)
        self.rank, self.world_size = rank, world_size
        self.per_rank = int(math.ceil(size / world_size))
        self.epoch = 0

    def __len__(self):
        return self.per_rank // self.batch_size

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        g = torch.Generator().manual_seed(derive_seed(self.seed, ORDER_STREAM, epoch))
        order = torch.randperm(self.size, generator=g).tolist()
        total = self.per_rank * self.world_size
        mine = [order[i % self.size] for i in range(self.rank, total, self.world_size)]
        for i in range(len(self)):
            yield [(epoch, index) for index in mine[i * self.batch_size:(i + 1) * self.batch_size]]


class _GroupBatches(Sampler):
    """Endless batches of a GroupSampler's consecutive blocks (each one group), epoch
    after epoch: the batches form in the main process, so workers cannot mix groups."""

    def __init__(self, group_sampler: GroupSampler, batch_size: int):
        self.group_sampler, self.batch_size = group_sampler, int(batch_size)

    def __iter__(self):
        while True:
            epoch = self.group_sampler.epoch
            indices = list(self.group_sampler)
            for i in range(0, len(indices) - self.batch_size + 1, self.batch_size):
                yield [(epoch, index) for index in indices[i:i + self.batch_size]]


def _engine_loader(dataset, batch_sampler, seed, num_workers, collate_fn, pin_memory, who):
    workers = _workers(num_workers)
    return EngineLoader(
        SeededSamples(dataset, seed, f"{who} ({type(dataset).__name__})"),
        split="training" if "iterable" in who else "validation", check_batches=False,
        batch_sampler=batch_sampler, num_workers=workers,
        collate_fn=collate_fn or default_collate, pin_memory=_pin(pin_memory),
        multiprocessing_context=worker_start_method() if workers > 0 else None,
        worker_init_fn=_leave_stop_signals_to_the_main_process,
        generator=torch.Generator().manual_seed(seed),
    )


def create_base_data_loader(dataset, batch_size, num_workers, sampler=None, pin_memory=True, collate_fn=None):
    """torch's DataLoader, not shuffled, incomplete last batch dropped. Its generator is
    private: a new iterator must not draw from the training RNG."""
    workers = _workers(num_workers)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, sampler=sampler, num_workers=workers,
        pin_memory=_pin(pin_memory), collate_fn=collate_fn, drop_last=True,
        multiprocessing_context=worker_start_method() if workers > 0 else None,
        generator=torch.Generator().manual_seed(derive_seed(torch.initial_seed(), _LOADER_STREAM)),
    )


def _iterable(dataset, batch_size, rank, world_size, num_workers, collate_fn, pin_memory,
              is_group, who):
    seed = comm.shared_random_seed()
    if is_group:
        batches = _GroupBatches(GroupSampler(dataset, batch_size, rank=rank, world_size=world_size,
                                             seed=seed), batch_size)
    else:
        rank = comm.get_rank() if rank is None else rank
        world_size = comm.get_world_size() if world_size is None else world_size
        batches = TrainBatchSampler(len(dataset), int(batch_size), seed=seed, rank=rank,
                                    world_size=world_size)
    return _engine_loader(dataset, batches, seed, num_workers, collate_fn, pin_memory, who)


def create_iterable_data_loader(dataset, batch_size, num_workers, collate_fn=None, pin_memory=True,
                                is_group=False):
    """Endless batches; sharded over the process group's ranks unless ``is_group``."""
    return _iterable(dataset, batch_size, None, None, num_workers, collate_fn, pin_memory,
                     is_group, "create_iterable_data_loader")


def create_distribute_iterable_data_loader(dataset, batch_size, rank, world_size, num_workers,
                                           collate_fn=None, pin_memory=True, is_group=False):
    """Endless batches, rank ``rank``'s share of each global batch."""
    return _iterable(dataset, batch_size, rank, world_size, num_workers, collate_fn, pin_memory,
                     is_group, "create_distribute_iterable_data_loader")


def create_data_loader(dataset, batch_size, num_workers, collate_fn=None, pin_memory=True):
    """One shuffled epoch per iteration. Not a collective (a project may build it on one
    rank only): its seed is derived from torch's initial seed, not shared_random_seed."""
    seed = derive_seed(torch.initial_seed(), _LOADER_STREAM, 1)
    return _engine_loader(dataset, _EpochBatches(len(dataset), batch_size, seed), seed,
                          num_workers, collate_fn, pin_memory, "create_data_loader")


def create_distribute_data_loader(dataset, batch_size, rank, world_size, num_workers, collate_fn=None,
                                  pin_memory=True):
    """One shuffled epoch per iteration, this rank's padded share of it."""
    seed = comm.shared_random_seed()
    batches = _EpochBatches(len(dataset), batch_size, seed, rank, world_size)
    return _engine_loader(dataset, batches, seed, num_workers, collate_fn, pin_memory,
                          "create_distribute_data_loader")

