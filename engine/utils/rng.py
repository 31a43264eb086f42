"""Seeding and capturing every RNG the training loop draws from.

Exact resume needs the Python, NumPy and torch (CPU and CUDA) generators saved with the
checkpoint and put back; the states are stored as tensors and plain ints so the
checkpoint loads with ``torch.load(weights_only=True)``.
"""
import hashlib
import random
import struct
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from . import comm

__all__ = ["seed_all", "capture_rng_state", "restore_rng_state", "restore_cuda_rng_state", "derive_seed"]


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that is a pure function of ``keys`` (stable across runs/processes).

    The key count and each key as a 64-bit word are hashed (BLAKE2b), so (1, 0) and
    (1, 0, 0) never share a seed. About 2 us a call (the data order's, once per epoch;
    per-sample augmentation keys use the cheaper engine.data.seeding.SampleKeys)."""
    words = [len(keys)] + [int(k) & 0xFFFFFFFFFFFFFFFF for k in keys]
    digest = hashlib.blake2b(struct.pack(f"<{len(words)}Q", *words), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state(device: Optional[torch.device] = None) -> Dict[str, Any]:
    """Every generator's state; ``device``: the one this process trains on (its index is
    saved with the CUDA states; None or an index-less ``cuda``: the current device)."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "mt": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
        state["cuda_device"] = _cuda_index(device)
    return state


def _cuda_index(device: Optional[torch.device]) -> int:
    if device is not None and device.type == "cuda" and device.index is not None:
        return int(device.index)
    return torch.cuda.current_device()


def restore_rng_state(state: Dict[str, Any], device: Optional[torch.device] = None) -> None:
    """Put the generators of :func:`capture_rng_state` back; the CUDA ones only where
    this process trains on CUDA (``device``; None: wherever CUDA is available): a process
    that trains on the CPU draws from none, and would start a CUDA context for nothing."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["mt"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and (device is None or device.type == "cuda"):
        restore_cuda_rng_state(state["cuda"], state.get("cuda_device", 0), comm.get_gpus_per_process(),
                               into=_cuda_index(device))


def restore_cuda_rng_state(states: Sequence[torch.Tensor], saved_device: int, gpus_per_process: int = 1,
                           into: Optional[int] = None) -> None:
    """Put back the CUDA generators rank 0 saved (``states``: one per device it saw;
    ``saved_device``: the one it trained on).

    A process that trains on one device (``into``, default the current one; one process
    per GPU, DDP and FSDP included) draws from that device's generator only, and in an
    uninterrupted run its state is the state of rank 0's own device when every rank
    draws alike: that one goes to this process's device, whatever its index. Putting
    every saved state back by index, as before, gave rank 1's GPU 1 the state of a
    generator rank 0 never used, and failed where fewer GPUs are visible than when the
    checkpoint was written. A DataParallel process draws on each of its devices (its
    replicas' dropout): each gets its own state back.

    Where ranks do not draw alike (random ops on tensors of other sizes per rank, as in
    multi-scale detection: Philox's offset grows with the elements drawn), a resumed
    rank >= 1 starts from rank 0's state, not its own: only rank 0's states are saved,
    as for the CPU generator (doc/resume.md, limits)."""
    count = torch.cuda.device_count()
    if gpus_per_process > 1:
        for index, saved in enumerate(list(states)[:count]):
            torch.cuda.set_rng_state(saved, index)
        return
    target = torch.cuda.current_device() if into is None else int(into)
    torch.cuda.set_rng_state(states[min(int(saved_device), len(states) - 1)], target)
