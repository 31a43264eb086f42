"""The step's verdict carried in DistributedDataParallel's own gradient all-reduce.

Every process must agree, each step, on the stop signal and on a non-finite loss (a NaN
on one rank must stop all of them at the same step, before any optimizer step). A
separate collective for these few flags costs its latency every step: 1.2 ms with gloo
between two processes of one machine, 9 % of a small model's DDP step
(doc/benchmarks.md, "The hook loop"), and more across machines. Yet the backward pass
already all-reduces every gradient: a DDP communication hook appends the flags to the
last gradient bucket of the step, so they travel in the same all-reduce for the price
of a few more floats.

:class:`BucketAgreement` is a step gate (the step contract, engine/model/step.py) around
the non-finite guard, which the trainer hands the model instead of the guard, once, when
it is built (:meth:`BucketAgreement.around`). Its ``before_backward``, after the step's
last forward pass, arms the guard's flags (they are known then); its ``decide``, after
backward, when DDP has waited for every bucket, hands the guard their sums over
processes (0/1 per flag, in the bucket's float32: exact for any realistic world size).
Used only when the model has exactly one DDP network whose gradients are float32, no
other communication hook, no float16 scaler (its overflow verdict comes after backward)
and the guard skips no steps (the gradients' verdict too comes after backward); anything
else keeps the guard's separate collective (nonfinite.py).
"""
import logging
from typing import Dict, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..model.step import Outcome, StepGate
from .nonfinite import NonFiniteGuard

__all__ = ["BucketAgreement"]

logger = logging.getLogger("engine.trainer")


class BucketAgreement(StepGate):
    def __init__(self, guard: NonFiniteGuard):
        self.guard = guard
        self.armed: Optional[torch.Tensor] = None   # this rank's flags for the coming backward
        self.agreed: Optional[torch.Tensor] = None  # their sums over processes, once reduced

    @classmethod
    def around(cls, guard: NonFiniteGuard, model) -> StepGate:
        """The gate for ``model``'s step: the agreement around ``guard``, hooked into the
        one DDP wrapper of ``model.wrapped_networks()``, or ``guard`` itself where that
        cannot be (module docstring)."""
        wrappers = list(model.wrapped_networks().values())
        ddp = [w for w in wrappers if isinstance(w, DistributedDataParallel)]
        if guard.max_skips or model.scaler is not None or len(ddp) != 1 or len(wrappers) != 1:
            return guard
        if any(p.dtype != torch.float32 for p in ddp[0].parameters() if p.requires_grad):
            return guard
        agreement = cls(guard)
        try:
            ddp[0].register_comm_hook(dist.group.WORLD, agreement._hook)
        except RuntimeError:  # a communication hook is already registered
            return guard
        logger.info("the step's stop and non-finite verdicts ride on DDP's gradient all-reduce "
                    "(no collective of their own)")
        return agreement

    def before_backward(self, losses: Sequence[torch.Tensor]) -> None:
        """Send the guard's flags with the coming backward's last bucket (both fields are
        replaced: what a step that raised before deciding left behind is dropped)."""
        self.armed, self.agreed = self.guard.device_flags(losses), None

    def decide(self, losses: Dict[str, torch.Tensor], overflow: bool) -> Outcome:
        return self.guard.decide(losses, overflow, self.take())

    def take(self) -> Optional[List[int]]:
        """The flags summed over processes (None: the backward carried none), once."""
        agreed, self.agreed, self.armed = self.agreed, None, None
        return None if agreed is None else [int(round(v)) for v in agreed.tolist()]

    def _hook(self, group, bucket):
        tensor = bucket.buffer()
        world = group.size()
        flags = self.armed if bucket.is_last() else None
        if flags is None:
            tensor.div_(world)
            return dist.all_reduce(tensor, group=group, async_op=True).get_future().then(
                lambda fut: fut.value()[0])
        n = tensor.numel()
        joined = torch.cat([tensor.div_(world), flags.to(tensor.device, tensor.dtype)])
        self.armed = None

        def unpack(fut):
            out = fut.value()[0]
            self.agreed = out[n:]  # read to the host in take(), not in this callback
            return out[:n]
        return dist.all_reduce(joined, group=group, async_op=True).get_future().then(unpack)
