"""Choosing how to run: one process here, or a process group (DDP) across GPUs/machines.

The scheduler calls :func:`launch` with the per-process entry point; everything below
the scheduler reads rank and world size from ``torch.distributed``, so the trainer is
the same in every mode.
"""
from typing import Callable

from ..utils.errors import EngineError

__all__ = ["launch"]


def launch(main: Callable, num_gpus_per_machine: int, num_machines: int = 1,
           machine_rank: int = 0, dist_url: str = "auto", args=()):
    if num_gpus_per_machine < 1 or num_machines < 1:
        raise EngineError(
            f"--num-gpus ({num_gpus_per_machine}) and --num-machines ({num_machines}) must be >= 1"
        )
    if not 0 <= machine_rank < num_machines:
        raise EngineError(f"--machine-rank {machine_rank} must be in [0, {num_machines - 1}]")
    world_size = num_gpus_per_machine * num_machines
    if world_size > 1:
        raise EngineError(
            f"--num-gpus {num_gpus_per_machine} x --num-machines {num_machines}: multi-process "
            "training is not available in this version of the engine; run with --num-gpus 1"
        )
    return main(*args)
