"""Datasets from the config and the loaders that feed the trainer.

``dataloader.train_data_set`` / ``val_data_set`` name a registered dataset; their other
keys (``transformer`` included) are its constructor arguments.
"""
import signal

import torch
from torch.utils.data import default_collate

from ..utils.registry import Registry, build_from_cfg
from .dataset import EngineDataSet
from .device_batches import DeviceStage
from .loader import EngineLoader, worker_start_method
from .sampler import InferenceBatchSampler, TrainBatchSampler
from .seeding import SeededSamples

__all__ = ["BUILD_DATASET_REGISTRY", "build_dataset", "build_train_loader", "build_val_loader"]

BUILD_DATASET_REGISTRY = Registry("BUILD_DATASET")
BUILD_DATASET_REGISTRY.__doc__ = "Datasets (EngineDataSet subclasses) named in dataloader.*_data_set."


def build_dataset(node, where: str):
    """The dataset named by ``node``, or None when ``node.NAME`` is empty."""
    if not node or not node.get("NAME", node.get("name")):
        return None
    return build_from_cfg(BUILD_DATASET_REGISTRY, node, where)


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """DataLoader workers ignore SIGINT and SIGTERM. A terminal's Ctrl-C and Slurm's
    SIGTERM reach every process of the job; the main process then finishes its step
    (which may still need these workers), saves, and shuts them down itself
    (engine/trainer/preemption.py). A worker whose main process died exits on its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _loader(dataset, batch_sampler, cfg, device, seed, collate_fn=None, *, where: str, split: str,
            persistent: bool, start_method=None):
    workers = int(cfg.DATALOADER.NUM_WORKERS)
    stage = DeviceStage.from_cfg(cfg, device)  # device_normalize / channels_last, else None
    if isinstance(dataset, EngineDataSet):
        dataset.device_normalize = stage is not None and stage.normalizes and "input_data" in stage.keys
    collate_fn = collate_fn or getattr(dataset, "collate_fn", None) or default_collate
    return EngineLoader(
        SeededSamples(dataset, seed, f"{where} ({type(dataset).__name__})"),
        split=split, check_batches=isinstance(dataset, EngineDataSet),
        device_stage=stage,
        batch_sampler=batch_sampler,
        num_workers=workers,
        collate_fn=stage.collate(collate_fn) if stage is not None else collate_fn,
        pin_memory=bool(cfg.DATALOADER.PIN_MEMORY) and device.type == "cuda",
        prefetch_factor=int(cfg.DATALOADER.PREFETCH_FACTOR) if workers > 0 else None,
        persistent_workers=persistent and workers > 0,
        multiprocessing_context=(start_method or worker_start_method()) if workers > 0 else None,
        worker_init_fn=_leave_stop_signals_to_the_main_process,
        # A private generator: creating the iterator must not draw from the global RNG,
        # or a resumed run would diverge from the uninterrupted one.
        generator=torch.Generator().manual_seed(seed),
    )


def build_train_loader(dataset, cfg, *, start_iter: int, device, rank: int = 0, world_size: int = 1,
                       collate_fn=None):
    """``collate_fn``: the trainer's ``collate_train_fn`` (the seed's set_collate_fn);
    None: the dataset's ``collate_fn`` attribute, else torch's default_collate."""
    accumulation = max(1, int(cfg.SOLVER.GRADIENT_ACCUMULATION_BATCH))
    sampler = TrainBatchSampler(
        len(dataset), int(cfg.SOLVER.TRAIN_PER_BATCH), seed=int(cfg.SEED),
        start_iter=start_iter, accumulation=accumulation, rank=rank, world_size=world_size,
        shuffle=bool(cfg.DATALOADER.SHUFFLE),
    )
    # Iterated once (the stream is endless): persistent workers would change nothing.
    loader = _loader(dataset, sampler, cfg, device, int(cfg.SEED), collate_fn,
                     where="dataloader.train_data_set", split="training", persistent=False)
    return loader, sampler


def build_val_loader(dataset, cfg, *, device, rank: int = 0, world_size: int = 1, collate_fn=None,
                     persistent_workers: bool = True, start_method=None,
                     where: str = "dataloader.val_data_set"):
    """The validation loader. Its workers start at the first evaluation and are kept for
    the next ones (``persistent_workers``): restarting them cost seconds per evaluation
    under DDP. ``start_method`` overrides :func:`~engine.data.loader.worker_start_method`."""
    sampler = InferenceBatchSampler(len(dataset), int(cfg.SOLVER.TEST_PER_BATCH), rank, world_size)
    return _loader(dataset, sampler, cfg, device, int(cfg.SEED), collate_fn, where=where,
                   split="validation", persistent=persistent_workers, start_method=start_method)


# The built-in datasets (datasets/), registered with the registry: before any project's
# class, which may then take one of their names (Registry._do_register), and at the end
# of this module, which they import.
from . import datasets  # noqa: E402,F401
