"""Process-group facts and the few collectives the engine uses, with or without
torch.distributed.

Every function works in a single process too (no process group: rank 0 of 1, the
collectives return their input), so engine code calls them unconditionally. Tensors
for collectives live on the current CUDA device under NCCL and on the CPU otherwise.

The launcher (``engine/schedule/launch.py``) records the local facts a process group
does not know: the rank inside this machine, the processes on this machine, and how
many GPUs this one process drives (``> 1`` only for DataParallel).
"""
from typing import Any, Dict, List, Sequence

import torch
import torch.distributed as dist

__all__ = [
    "get_rank", "get_world_size", "is_main_process", "synchronize",
    "get_local_rank", "get_local_size", "get_gpus_per_process", "set_local_info",
    "is_distributed", "group_backend", "uses_nccl", "any_rank", "all_reduce_max", "all_reduce_sum",
    "reduce_mean_dict", "all_gather_object", "broadcast_object", "gather_in_rank_order",
]

_LOCAL = {"rank": 0, "size": 1, "gpus_per_process": 1}


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if _initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if _initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def is_distributed() -> bool:
    """True when a process group with more than one process is running."""
    return _initialized() and dist.get_world_size() > 1


def group_backend(device: torch.device, cpu_collectives: bool = False) -> str:
    """The process group's backend for training on ``device``: NCCL on CUDA, gloo on the
    CPU. ``cpu_collectives``: a CUDA run whose collectives also see CPU tensors (fully
    sharded with the shards offloaded to host memory: the gradient norm over the shards
    is all-reduced where they are) gets gloo beside NCCL for those, as torchtitan does;
    an NCCL-only group has no backend for a CPU tensor."""
    if device.type != "cuda":
        return "gloo"
    return "cuda:nccl,cpu:gloo" if cpu_collectives else "nccl"


def set_local_info(local_rank: int = 0, local_size: int = 1, gpus_per_process: int = 1) -> None:
    """Called by the launcher in each process before the trainer is built."""
    _LOCAL.update(rank=int(local_rank), size=int(local_size), gpus_per_process=int(gpus_per_process))


def get_local_rank() -> int:
    """This process's rank among the processes of its machine."""
    return _LOCAL["rank"]


def get_local_size() -> int:
    """Processes on this machine."""
    return _LOCAL["size"]


def get_gpus_per_process() -> int:
    """GPUs this process drives: N for DataParallel over N GPUs, else 1."""
    return _LOCAL["gpus_per_process"]


def uses_nccl(backend: str) -> bool:
    """Whether a group of ``backend`` (a name, or a device map such as
    ``'cuda:nccl,cpu:gloo'``: :func:`group_backend`) runs its CUDA collectives on NCCL."""
    return "nccl" in str(backend).lower()


def _device() -> torch.device:
    """Where collective tensors must live for the current backend (with NCCL beside gloo
    for CPU tensors, the engine's own collectives stay on NCCL, as without it)."""
    if uses_nccl(dist.get_backend()):
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def synchronize() -> None:
    """A barrier across all processes (no-op in one process)."""
    if not is_distributed():
        return
    if uses_nccl(dist.get_backend()):
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def any_rank(flag: int) -> int:
    """The largest of ``flag`` over all processes (``flag`` itself in one process): how
    every rank reaches the same verdict (stop on a signal, skip a non-finite step)."""
    return all_reduce_max([flag])[0]


def all_reduce_max(flags: Sequence[int]) -> List[int]:
    """Element-wise maxima over processes of a few integers, in one collective: the
    training step agrees on its stop signal, non-finite verdict and AMP overflow at once."""
    flags = [int(f) for f in flags]
    if not is_distributed():
        return flags
    tensor = torch.tensor(flags, dtype=torch.int64, device=_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def all_reduce_sum(values: Sequence[float]) -> List[float]:
    """Element-wise sums over processes of a list of numbers (float64), one collective."""
    values = [float(v) for v in values]
    if not is_distributed() or not values:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def reduce_mean_dict(values: Dict[str, float]) -> Dict[str, float]:
    """The mean over processes of each entry (keys sorted, the same on every rank).
    One all_reduce; every process must call it with the same keys."""
    if not is_distributed():
        return dict(values)
    keys = sorted(values)
    world = dist.get_world_size()
    means = dict(zip(keys, (s / world for s in all_reduce_sum([values[k] for k in keys]))))
    return {k: means[k] for k in values}


def all_gather_object(obj: Any) -> List[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (any picklable object)."""
    if not is_distributed():
        return [obj]
    gathered: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process (any picklable object)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_in_rank_order(items: Sequence[Any]) -> List[Any]:
    """Every process's list, concatenated in rank order, on every process.

    Validation shards are contiguous and in rank order (``InferenceBatchSampler``), so
    per-sample results gathered with this come back in dataset order."""
    out: List[Any] = []
    for part in all_gather_object(list(items)):
        out.extend(part)
    return out
