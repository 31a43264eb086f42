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

**The step contract.** Between backward and the optimizer step the bundle asks a gate,
handed to ``train_iteration(before_step=...)``, whether to take the step: a
:class:`StepGate`, called by the bundle at two fixed points of each phase (a GAN has a D
and a G phase), :meth:`~StepGate.before_backward` and :meth:`~StepGate.decide`. The
trainer's gate is its non-finite guard (``engine.trainer.nonfinite.NonFiniteGuard``),
which agrees with the other processes, in one collective, on a stop signal, a
non-finite loss or gradient and a float16 overflow; under DDP, when it can, the bucket
agreement around it (``engine.trainer.ddp_agreement.BucketAgreement``) carries that
verdict in the gradient all-reduce instead. The trainer chooses its gate once, when it
is built; the bundle calls the contract's two methods, never a name it looked up. A
plain callable ``before_step(losses) -> bool`` still works (:class:`CallableGate`: no stop
signal then; an overflow is agreed in its own collective, only when it happens).
"""
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

from ..utils import comm
from ..utils.errors import EngineError

__all__ = ["STEPPED", "OVERFLOW", "SKIPPED", "Outcome", "StepResult", "StepGate", "CallableGate", "as_gate",
           "as_loss_dict", "split_terms", "host_floats"]

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
    if len(values) == 1:  # the common single loss: its value as stack().float() gives it, no stack
        return [values[0].float().item()]
    if not values:
        return []
    if len({(v.device, v.dtype) for v in values}) > 1:
        values = [v.to(values[0].device, torch.float32) for v in values]
    return torch.stack(values).float().tolist()


def as_loss_dict(output: Union[torch.Tensor, Dict[str, Any]], owner: str, method: str = "run_step",
                 single: str = "loss") -> Dict[str, torch.Tensor]:
    """``output`` as a dict of scalar tensors and numbers (a bare tensor is named
    ``single``); which entries are loss terms: :func:`split_terms`."""
    if isinstance(output, torch.Tensor):
        output = {single: output}
    if not isinstance(output, dict) or not output:
        raise EngineError(
            f"{owner}.{method} must return a loss tensor or a non-empty dict of loss tensors, "
            f"got {type(output).__name__}"
        )
    for name, value in output.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            continue
        if isinstance(value, dict):
            raise EngineError(
                f"{owner}.{method} returned {name!r} = a dict {sorted(map(str, value))}; return "
                f"LossKeyCompose's per-key dict itself (each key a loss term), or call it with a "
                f"list of inputs per key (the seed's form) to get one total tensor")
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise EngineError(
                f"{owner}.{method} returned {name!r} = {type(value).__name__}"
                f"{tuple(value.shape) if isinstance(value, torch.Tensor) else ''}; "
                f"each entry must be a scalar tensor (a loss) or a number (logged)"
            )
    return output


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


class StepGate:
    """The step contract (module docstring): what a bundle's step calls on its gate.

    Like MMEngine's ``OptimWrapper.update_params``, one place takes the optimizer step
    (``BaseModel.step_solvers``); unlike it, the processes must agree first on whether
    to take it, so the step tells its gate when the verdict can be sent (before the last
    backward) and asks for it (after the backward passes). Both methods run on every
    process in the same order, so a gate may use collectives."""

    def before_backward(self, losses: Sequence[torch.Tensor]) -> None:
        """After the phase's last forward pass, before its backward: every loss term of
        the phase (the earlier micro-batches' means so far and the last one's, still on
        their device). Anything sent here can travel with that backward's gradient
        all-reduce. Nothing by default."""

    def decide(self, losses: Dict[str, torch.Tensor], overflow: bool) -> Outcome:
        """After the backward passes, before any optimizer step: the phase's
        :class:`Outcome` from its mean loss terms and ``overflow`` (a float16 gradient
        was inf/NaN after unscaling). STEPPED takes the step; OVERFLOW lets the float16
        scaler skip it; SKIPPED skips it (gradients zeroed, schedules still advance).
        Raise to stop training before the step."""
        raise NotImplementedError(f"{type(self).__name__} must implement decide()")


class CallableGate(StepGate):
    """A plain ``before_step(losses) -> bool`` (or None: always step) as a gate: no stop
    signal; a float16 overflow is agreed in its own collective, only when it happens."""

    def __init__(self, before_step: Optional[Callable[[Dict[str, torch.Tensor]], bool]] = None):
        self.before_step = before_step

    def decide(self, losses: Dict[str, torch.Tensor], overflow: bool) -> Outcome:
        if overflow:
            floats = host_floats(losses.values())
            # gradients are all-reduced, so every rank sees the same overflow; losses are per
            # rank, so agree on them (a rank going on to before_step alone would wait forever)
            if not comm.any_rank(int(not all(math.isfinite(v) for v in floats))):
                return Outcome(OVERFLOW)
        if self.before_step is None or self.before_step(losses):
            return Outcome(STEPPED)
        return Outcome(SKIPPED, "vetoed by before_step")


_ALWAYS = CallableGate()


def as_gate(before_step: Union[StepGate, Callable, None]) -> StepGate:
    """``before_step`` as a :class:`StepGate` (a plain callable or None is wrapped)."""
    if isinstance(before_step, StepGate):
        return before_step
    return _ALWAYS if before_step is None else CallableGate(before_step)
