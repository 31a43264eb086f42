"""The bundle's training step: one batch's way to the optimizer, top to bottom in one file.

The trainer calls ``model.train_iteration(micro_batches, epoch=..., before_step=gate)``;
the step runs in this order and returns to the trainer only at the end:

    train_iteration           zero_grad
      forward_backward        for each of the k micro-batches (DDP all-reduces on the last):
        micro_batch_losses      run_step under autocast: its loss terms (step.py), the
          log_step_values       other entries and the seed-form losses' values logged
        gate.before_backward    the last micro-batch: the verdict may ride on its backward
        backward                loss / k (scaled with a float16 GradScaler)
      step_solvers            [float16: unscale; overflow?] -> gate.decide(losses,
                              overflow) -> clip + optimizer step, or skip; LR schedule
      EMA step                when the step was taken
      end_iteration           [float16: scaler.update()]
    -> StepResult             the mean loss terms and the step's Outcome

The gate is the step contract (engine/model/step.py :class:`StepGate`): the trainer's
non-finite guard, or a plain callable. detectron2's ``SimpleTrainer.run_step`` and
``AMPTrainer`` do the same in one method each; here accumulation, DDP's ``no_sync``, the
gate, several solvers (GAN bundles, gan_model.py, run ``forward_backward`` and
``step_solvers`` once per phase) and float16 each need a seam, so the step is a few
small methods, each called from the one above it.

:class:`TrainStep` holds BaseModel's step methods; they use only attributes
``BaseModel.__init__`` sets (``g_solver``, ``g_ema``, ``amp``, ``scaler``, ``event_store``).
"""
from contextlib import nullcontext
from typing import Any, Callable, Dict, Optional, Sequence, Union

import torch

from ..loss.pipe import loss_sum, pop_logged_values
from ..solver.solver import Solver
from ..utils.errors import EngineError
from .step import OVERFLOW, SKIPPED, STEPPED, Outcome, StepGate, StepResult, as_gate, as_loss_dict, split_terms

__all__ = ["TrainStep", "LossOutput", "BeforeStep"]

LossOutput = Union[torch.Tensor, Dict[str, torch.Tensor]]
#: what ``before_step=`` takes: the trainer's gate, a plain ``callable(losses) -> bool``, or None
BeforeStep = Union[StepGate, Callable[[Dict[str, torch.Tensor]], bool], None]


_SYNC = nullcontext()  # the last micro-batch: DDP all-reduces its gradients


class TrainStep:
    """BaseModel's training step (module docstring)."""

    def train_iteration(self, micro_batches: Sequence[Any], *, epoch: int = None,
                        before_step: BeforeStep = None) -> StepResult:
        """One optimizer step over ``k`` micro-batches; returns a :class:`StepResult`: the
        mean (detached) loss terms, a dict, with the step's outcome (stepped, skipped,
        overflow; an agreed stop signal; gradient norms). Dividing each micro-batch loss
        by ``k`` makes k x B equal one batch of kB.

        ``before_step`` (the trainer's non-finite guard, a :class:`StepGate`) decides after
        the backward passes and before the optimizer step; when it skips the step:
        gradients zeroed, no optimizer step, no EMA update, while the LR schedule still
        advances (it follows the iteration count, see doc/resume.md). A float16 gradient
        overflow (finite losses) is the GradScaler's business, not the guard's: the step
        is skipped and counted in :attr:`skipped_steps`."""
        if not all(net.training for net in self.networks):
            self.train()  # after evaluation; switching every step costs ~0.1 ms
        gate = as_gate(before_step)
        self.g_solver.zero_grad()
        totals = self.forward_backward(self.run_step, micro_batches, epoch=epoch, gate=gate)
        outcome = self.step_solvers([self.g_solver], totals, gate)
        if outcome.status == STEPPED and self.g_ema is not None:
            self.g_ema.step(self.unwrapped("g_model"))
        self.last_step_skipped = outcome.status == OVERFLOW
        self.end_iteration()
        return StepResult(totals, outcome)

    def forward_backward(self, step: Callable[..., LossOutput], micro_batches: Sequence[Any], *,
                         epoch: int = None, sync: Optional[Sequence[str]] = None,
                         single: str = "loss", gate: BeforeStep = None) -> Dict[str, torch.Tensor]:
        """Forward and backward on each micro-batch (DDP's all-reduce only on the last, for
        the networks ``sync``, default all); the mean loss terms. ``gate.before_backward``
        gets every loss term before the last backward (the step contract, step.py)."""
        gate = as_gate(gate)
        k = len(micro_batches)
        totals: Dict[str, torch.Tensor] = {}
        pop_logged_values(self)  # drop the values of calls outside a step (validation)
        for i, data in enumerate(micro_batches):
            last = i == k - 1
            with _SYNC if last else self.no_sync(sync):
                losses = self.micro_batch_losses(step, data, epoch=epoch, single=single)
                loss = loss_sum(losses.values())
                if k > 1:
                    loss = loss / k
                if last:
                    gate.before_backward(list(totals.values()) + list(losses.values()))
                (loss if self.scaler is None else self.scaler.scale(loss)).backward()
            for name, value in losses.items():
                value = value.detach() / k if k > 1 else value.detach()
                totals[name] = totals[name] + value if name in totals else value
        return totals

    def micro_batch_losses(self, step: Callable[..., LossOutput], data, *, epoch: int = None,
                           single: str = "loss") -> Dict[str, torch.Tensor]:
        """``step(data, epoch=epoch)`` under autocast: its loss terms (a bare tensor is
        named ``single``). Its other entries are logged (:meth:`log_step_values`)."""
        with self.amp.autocast():
            output = as_loss_dict(step(data, epoch=epoch), type(self).__name__, step.__name__, single)
        losses, logged = split_terms(output)
        # parts of another term (seed: loss = a + b beside a, b): the validation total must
        # not count them twice either (LossEvaluator)
        self.loss_components = frozenset(n for n in logged if getattr(output[n], "requires_grad", False))
        if not losses:
            raise EngineError(
                f"{type(self).__name__}.{step.__name__} returned no loss term: none of "
                f"{sorted(output)} is a tensor that requires grad (a loss computed from "
                f"a trained network); numbers and detached tensors are only logged")
        self.log_step_values(output, logged)
        return losses

    def log_step_values(self, output: Dict[str, Any], logged: Dict[str, Any]) -> None:
        """Record a micro-batch's values that are no loss term (``logged``) through the
        event store, with the per-key values of the seed-form loss compositions the model
        holds (``total = self.loss(dict(k=[...]))``: engine/loss/pipe.py
        ``pop_logged_values``) that ``output`` does not name itself."""
        for name, value in pop_logged_values(self).items():
            if name not in output:
                logged[name] = value
        for name, value in logged.items():
            self.event_store.log(name, value)

    def step_solvers(self, solvers: Sequence[Solver], losses: Dict[str, torch.Tensor],
                     before_step: BeforeStep = None) -> Outcome:
        """Ask the gate (``before_step``, step.py), then clip and step ``solvers`` or skip
        them (their schedules advance in every case). The outcome's status is
        ``'stepped'``, ``'overflow'`` (float16: a gradient overflowed, the scaler skipped
        the step) or ``'skipped'`` (the gate refused it); its ``grad_norms`` holds each
        stepped solver's gradient norm when it computed one."""
        overflow = False
        if self.scaler is not None:
            self._scaler_used = True
            overflow = not all([s.unscale_() for s in solvers])
        outcome = as_gate(before_step).decide(losses, overflow)
        if outcome.status == SKIPPED:
            for s in solvers:
                s.skip()
            return outcome
        for s in solvers:
            norm = s.step()
            if norm is not None:
                outcome.grad_norms[self._solver_names.get(id(s), "solver")] = norm
        outcome.status = OVERFLOW if any(s.last_skipped for s in solvers) else STEPPED
        return outcome

    def end_iteration(self) -> None:
        """float16: adjust the loss scale once per iteration, after every optimizer step."""
        if self._scaler_used:
            self.scaler.update()
            self._scaler_used = False
