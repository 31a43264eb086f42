"""Process-group facts (rank, world size) that work with or without torch.distributed."""
import torch.distributed as dist

__all__ = ["get_rank", "get_world_size", "is_main_process", "synchronize"]


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if _initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if _initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    if _initialized() and dist.get_world_size() > 1:
        dist.barrier()
