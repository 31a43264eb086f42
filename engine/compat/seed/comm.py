"""The seed's ``engine.comm`` (detectron2's comm helpers) over our process-group helper.

Rank, world size, barrier and the local facts are ``engine.utils.comm``'s own: one truth
about the process group whichever module a project imports. The seed's object
collectives are kept with their signatures (``group``, ``dst``) and, like ours, work in a
single process without a process group.
"""
from typing import Any, Dict, List

import numpy as np
import torch
import torch.distributed as dist

from ...utils import comm as _comm
from ...utils.comm import (get_local_rank, get_local_size, get_rank, get_world_size,
                           is_main_process, synchronize)

__all__ = ["all_gather", "gather", "get_local_rank", "get_local_size", "get_rank",
           "get_world_size", "is_main_process", "reduce_dict", "shared_random_seed",
           "synchronize"]


def all_gather(data: Any, group=None) -> List[Any]:
    """Every rank's ``data`` (any picklable object), in rank order of ``group``."""
    if get_world_size() == 1:
        return [data]
    if group is None:
        return _comm.all_gather_object(data)
    if dist.get_world_size(group) == 1:
        return [data]
    out: List[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(out, data, group=group)
    return out


def gather(data: Any, dst: int = 0, group=None) -> List[Any]:
    """On ``dst`` (a global rank) every rank's ``data``; ``[]`` on the others."""
    if get_world_size() == 1:
        return [data]
    if group is not None and dist.get_world_size(group) == 1:
        return [data]
    size = dist.get_world_size(group) if group is not None else get_world_size()
    out = [None] * size if get_rank() == dst else None
    dist.gather_object(data, out, dst=dst, group=group)
    return out if out is not None else []


def shared_random_seed() -> int:
    """One random int below 2**31, the same on every rank (every rank must call it).

    Every rank draws from its global numpy generator, as the seed does, so those
    generators advance alike; rank 0's draw is the one kept."""
    return int(_comm.broadcast_object(int(np.random.randint(2 ** 31))))


def reduce_dict(input_dict: Dict[str, torch.Tensor], average: bool = True) -> Dict[str, torch.Tensor]:
    """The sum (or mean) over ranks of each scalar tensor, keys sorted.

    An all-reduce, not the seed's reduce to rank 0: the seed leaves the other ranks with
    partially reduced values, which a project logging on every rank would print."""
    world_size = get_world_size()
    if world_size < 2:
        return input_dict
    with torch.no_grad():
        names = sorted(input_dict)
        values = torch.stack([torch.as_tensor(input_dict[k]) for k in names])
        dist.all_reduce(values)
        if average:
            values = values / world_size
    return dict(zip(names, values))
