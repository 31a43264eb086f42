"""What one optimizer step did, who decides whether it is taken, and which entries of
``run_step``'s dict are loss terms.

**Loss terms and logged values.** ``run_step`` returns a loss tensor or a dict. In
training, an entry is a *loss term* when it is a tensor that requires grad (it came out
of a trained network): the loss terms are summed and back-propagated. Every other entry
(a Python number, an accuracy computed from ``argmax``, a ``.detach()``-ed tensor) is a
*logged value*: it goes to the trainer's event store (log line, metrics.jsonl,
TensorBoard) and is not added to the loss. A dict with no loss term is an error naming
its entries. An entry that another entry was computed from (the seed's
``dict(loss=loss_mask + loss_cls, loss_mask=loss_mask, loss_cls=loss_cls)``, where the
seed back-propagated ``loss`` alone) is a *component*: logged, not summed a second time
(:func:`split_terms`). Under ``torch.no_grad`` (validation) nothing requires grad and every
entry is a value of the validation loss evaluator.

**The gate.** Between backward and the optimizer step the bundle asks its
``before_step`` whether to take the step. The trainer's gate
(``engine.trainer.nonfinite.NonFiniteGuard``) agrees with the other processes, in one
collective, on three things at once: a stop signal, a non-finite loss or gradient, a
float16 overflow. A plain callable ``before_step(losses) -> bool`` still works (no stop
signal then; an overflow is agreed in its own collective, only when it happens).
"""
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch

from ..utils import comm

__all__ = ["STEPPED", "OVERFLOW", "SKIPPED", "Outcome", "StepResult", "decide", "split_terms",
           "host_floats"]

# what a step did
STEPPED, OVERFLOW, SKIPPED = "stepped", "overflow", "skipped"


@dataclass
class Outcome:
    """One phase's verdict (a GAN has a D and a G phase per iteration)."""

    status: str = STEPPED                 # STEPPED / OVERFLOW / SKIPPED
    reason: str = ""                      # why SKIPPED: 'loss', 'gradients', ...
    stop: int = 0                         # a stop signal agreed by every process (0: none)
    asked_by: Tuple[int, ...] = ()        # the ranks with a request_stop to agree on (trainer/stopping.py)
    floats: Dict[str, float] = field(default_factory=dict)   # the judged losses, on the host
    grad_norms: Dict[str, torch.Tensor] = field(default_factory=dict)  # per solver name

    def merged(self, other: "Outcome") -> "Outcome":
        """The iteration's outcome over two phases: a skip or overflow in either counts."""
        order = (SKIPPED, OVERFLOW, STEPPED)
        status = min(self.status, other.status, key=order.index)
        return Outcome(status, self.reason or other.reason, max(self.stop, other.stop),
                       tuple(sorted(set(self.asked_by) | set(other.asked_by))),
                       {**self.floats, **other.floats}, {**self.grad_norms, **other.grad_norms})


class StepResult(dict):
    """``train_iteration``'s result: the step's mean loss terms (detached tensors, a dict
    as before) with what happened, so nobody reads a verdict back from elsewhere."""

    def __init__(self, losses: Dict[str, torch.Tensor], outcome: Optional[Outcome] = None):
        super().__init__(losses)
        self.outcome = outcome if outcome is not None else Outcome()

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def skipped(self) -> bool:
        return self.outcome.status == SKIPPED

    def floats(self) -> Dict[str, float]:
        """The loss terms as Python floats: those the gate read, the others in one transfer."""
        known = self.outcome.floats
        missing = [name for name in self if name not in known]
        if missing:
            known.update(zip(missing, host_floats(self[name] for name in missing)))
        return {name: known[name] for name in self}


def host_floats(values: Iterable[torch.Tensor]) -> List[float]:
    """Scalar tensors as floats in one device-to-host transfer (stack, then tolist)."""
    values = [v.detach().reshape(()) for v in values]
    if not values:
        return []
    if len({(v.device, v.dtype) for v in values}) > 1:
        values = [v.to(values[0].device, torch.float32) for v in values]
    return torch.stack(values).float().tolist()


#: autograd nodes looked at below each loss entry when looking for its components: a
#: total is a few sums and products of its parts, found in the first levels of its graph
COMPONENT_SEARCH_NODES = 64


def split_terms(output: Dict[str, Any]) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """``(loss terms, logged values)`` of a checked ``run_step`` dict (module docstring).

    With several tensors that require grad, one that appears in the first
    :data:`COMPONENT_SEARCH_NODES` autograd nodes below another is a component of it
    (detached and logged): summing ``loss``, ``loss_mask`` and ``loss_cls`` when
    ``loss = loss_mask + loss_cls`` would back-propagate every part twice, where the seed
    (which back-propagates ``step_info['loss']``) takes each part once."""
    losses, logged = {}, {}
    for name, value in output.items():
        if isinstance(value, torch.Tensor) and value.requires_grad:
            losses[name] = value
        else:
            logged[name] = value
    if len(losses) > 1:
        nodes = {name: value.grad_fn for name, value in losses.items() if value.grad_fn is not None}
        below = set()
        for node in nodes.values():
            below |= _nodes_below(node, COMPONENT_SEARCH_NODES)
        for name in [n for n, node in nodes.items() if node in below]:
            logged[name] = losses.pop(name).detach()
    return losses, logged


def _nodes_below(node, limit: int) -> set:
    """Up to ``limit`` autograd nodes under ``node``, breadth first (nearest first)."""
    found, queue = set(), deque([node])
    while queue and len(found) < limit:
        for child, _ in queue.popleft().next_functions:
            if child is not None and child not in found:
                found.add(child)
                queue.append(child)
    return found


def decide(before_step: Optional[Callable], losses: Dict[str, torch.Tensor], overflow: bool) -> Outcome:
    """Ask ``before_step`` (a gate with ``decide(losses, overflow)``, a plain callable or
    None) whether to take the step. ``overflow``: a float16 gradient was inf/NaN."""
    gate = getattr(before_step, "decide", None)
    if gate is not None:
        return gate(losses, overflow)
    if overflow:
        floats = host_floats(losses.values())
        # gradients are all-reduced, so every rank sees the same overflow; losses are per
        # rank, so agree on them (a rank going on to before_step alone would wait forever)
        if not comm.any_rank(int(not all(math.isfinite(v) for v in floats))):
            return Outcome(OVERFLOW)
    if before_step is None or before_step(losses):
        return Outcome(STEPPED)
    return Outcome(SKIPPED, "vetoed by before_step")
