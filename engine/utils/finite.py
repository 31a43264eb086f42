"""One test for NaN/inf over many tensors (losses, gradients, checkpoint state).

Each tensor is reduced to its largest magnitude on its own device (NaN propagates, inf
stays inf) and the peaks are checked together: one host sync however many tensors. A
sharded tensor (DTensor, trainer.fsdp) is checked on this process's shard; the callers
agree with the other processes.
"""
from typing import Iterable

import torch

__all__ = ["all_finite"]


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """True when no element of any of ``tensors`` is NaN or inf (True for none)."""
    tensors = [t.to_local() if hasattr(t, "to_local") else t for t in tensors]  # a shard: this process's part
    peaks = [t.detach().abs().amax().float().reshape(()) for t in tensors if t.numel()]
    if not peaks:
        return True
    devices = {p.device for p in peaks}
    if len(devices) > 1:  # e.g. a CPU buffer beside CUDA weights: one stack per device
        return all(all_finite([p for p in peaks if p.device == d]) for d in devices)
    return bool(torch.isfinite(torch.stack(peaks)).all())
