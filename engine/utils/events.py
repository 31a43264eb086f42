"""The event store: every number logged during training, from ``run_step``
(``BaseModel.log``), from hooks (``trainer.log``) and by the trainer itself (loss terms,
``lr``, data and iteration time), in one place.

Values accumulate cheaply: a tensor stays on its device and is summed there, so logging
one every step costs no host sync. At the logging period :meth:`EventStore.flush` reads
the tensors to the host in one transfer, combines every process's sums and counts in one
collective call (``comm.all_gather_object``; processes may have logged different names)
and returns the means; the writers then get one record.

``reduce='mean'`` (default): the mean over the values logged in the period, over every
process. ``reduce='last'``: the latest value (the mean over processes of each one's
latest; a learning rate is the same on all).
"""
from typing import Any, Dict, List, Tuple

import torch

from . import comm
from .errors import EngineError

__all__ = ["EventStore", "REDUCTIONS"]

REDUCTIONS = ("mean", "last")


class EventStore:
    def __init__(self):
        self._sums: Dict[str, Any] = {}     # name -> float or tensor (a sum, or the latest value)
        self._counts: Dict[str, int] = {}

    def log(self, name: str, value, reduce: str = "mean") -> None:
        if reduce not in REDUCTIONS:
            raise EngineError(f"log({name!r}): reduce must be one of {list(REDUCTIONS)}, got {reduce!r}")
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise EngineError(f"log({name!r}): expected a number or a one-element tensor, "
                                  f"got a tensor of shape {tuple(value.shape)}")
            value = value.detach().reshape(())
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            raise EngineError(f"log({name!r}): expected a number or a one-element tensor, "
                              f"got {type(value).__name__}")
        if reduce == "last" or name not in self._sums:
            self._sums[name], self._counts[name] = value, 1
        else:
            self._sums[name] = self._sums[name] + value
            self._counts[name] += 1

    def __contains__(self, name: str) -> bool:
        return name in self._sums

    def __len__(self) -> int:
        return len(self._sums)

    def flush(self) -> Dict[str, float]:
        """The means since the last flush, over every process (a collective when several
        train: every process calls it at the same steps); then empty."""
        local = self._local()
        self._sums, self._counts = {}, {}
        if not comm.is_distributed():
            return {name: total / count for name, (total, count) in local.items()}
        merged: Dict[str, List[float]] = {}
        for part in comm.all_gather_object(local):
            for name, (total, count) in part.items():
                entry = merged.setdefault(name, [0.0, 0])
                entry[0] += total
                entry[1] += count
        return {name: total / max(count, 1) for name, (total, count) in merged.items()}

    def _local(self) -> Dict[str, Tuple[float, int]]:
        names = [n for n, v in self._sums.items() if isinstance(v, torch.Tensor)]
        floats = dict(zip(names, _to_host([self._sums[n] for n in names])))
        return {name: (float(floats.get(name, value)), self._counts[name])
                for name, value in self._sums.items()}


def _to_host(values: List[torch.Tensor]) -> List[float]:
    if not values:
        return []
    device = values[0].device
    return torch.stack([v.to(device, torch.float64) for v in values]).tolist()
