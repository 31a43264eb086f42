"""One network's optimizer, LR schedule and gradient clipping, stepped as one unit.

Kept apart from the model bundle so a bundle with several networks (a GAN's generator
and discriminators) holds one ``Solver`` each. Clipping is an explicit call between
backward and step: no optimizer subclassing.

With float16 AMP the solver is given the bundle's ``GradScaler`` and steps through it:
unscale (before clipping, so the clipper sees true gradients) -> clip -> ``scaler.step``,
which skips the optimizer step when a gradient overflowed. Skipped steps are counted
(``skipped_steps``, saved with the solver's state). The bundle, not the solver, calls
``scaler.update()``, once per iteration.

The LR schedule advances on every :meth:`step` and :meth:`skip`, skipped or not: it is a
function of the iteration count, so a resumed run and the run it continues agree.
"""
import warnings
from typing import Optional

import torch

from ..utils.finite import all_finite
from .clip import GradientClipper
from .lr_scheduler import build_lr_scheduler
from .optimizer import build_optimizer

__all__ = ["Solver"]


class Solver:
    def __init__(self, network: torch.nn.Module, node, max_iter: int, where: str = "solver.generator",
                 scaler: Optional[torch.amp.GradScaler] = None):
        self.optimizer = build_optimizer(network, node.OPTIMIZER, where=f"{where}.optimizer")
        self.lr_scheduler = build_lr_scheduler(
            self.optimizer, node.LR_SCHEDULER, max_iter, where=f"{where}.lr_scheduler"
        )
        self.clipper = GradientClipper.from_optimizer_node(node.OPTIMIZER, where=f"{where}.optimizer")
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.scaler = scaler if scaler is not None and scaler.is_enabled() else None
        self.skipped_steps = 0       # optimizer steps the scaler skipped (overflow), whole run
        self.last_skipped = False    # whether the latest step() was skipped
        self.step_lr = self.lr       # the LR the latest step trained with
        # compute the gradient norm even when clipping is off (GradientNormMonitor sets it)
        self.measure_norm = False
        self._unscaled = False
        self._finite = True          # whether the unscaled gradients are finite (this step)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def requires_grad_(self, flag: bool) -> None:
        """Switch gradient tracking of the parameters this solver trains."""
        for p in self.params:
            p.requires_grad_(flag)

    def unscale_(self) -> bool:
        """float16: divide the gradients by the loss scale now; True if all are finite
        (the step will be taken). Without a scaler: True."""
        if self.scaler is None:
            return True
        if not self._unscaled:
            self.scaler.unscale_(self.optimizer)
            self._unscaled = True
            self._finite = all_finite(p.grad for p in self.params if p.grad is not None)
        return self._finite

    def step(self) -> Optional[torch.Tensor]:
        """Clip, step the optimizer (through the scaler with AMP float16), advance the
        schedule; returns the gradient norm before clipping (a 0-dim tensor, still on the
        device) when clipping is on or ``measure_norm`` is set, else None."""
        self.step_lr = self.lr
        norm = None
        if self.scaler is None:
            norm = self._clip_or_measure()
            self.optimizer.step()
            self.last_skipped = False
        else:
            # Unscaled first, always: whether the step is skipped is read from the gradients
            # here. A hook on the optimizer's step would not tell: a fused optimizer
            # (params.fused=True) is always stepped and skips inside its kernel.
            finite = self.unscale_()
            if self.clipper.enabled or self.measure_norm:
                norm = self._clip_or_measure()
            self.scaler.step(self.optimizer)  # skipped when a gradient is inf/NaN
            self._unscaled = False
            self.last_skipped = not finite
            self.skipped_steps += self.last_skipped
        self.step_schedule()
        return norm

    def _clip_or_measure(self) -> Optional[torch.Tensor]:
        if self.clipper.enabled:
            norm = self.clipper(self.params)
        elif not self.measure_norm:
            return None
        else:
            grads = [p.grad for p in self.params if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads, self.clipper.norm_type) if grads else None
        # sharded gradients (trainer.fsdp): the norm over every process's shards
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm

    def skip(self) -> None:
        """No optimizer step this iteration (gradients dropped); the schedule advances."""
        self.step_lr = self.lr
        self.zero_grad()
        self._unscaled = False
        self.step_schedule()

    def step_schedule(self) -> None:
        if self.lr_scheduler is None:
            return
        if self.lr_scheduler._step_count == 1:  # the first step may follow a skipped one:
            with warnings.catch_warnings():  # "lr_scheduler.step() before optimizer.step()"
                warnings.simplefilter("ignore", UserWarning)
                self.lr_scheduler.step()
        else:
            self.lr_scheduler.step()

    @property
    def lr(self) -> float:
        """The scheduled LR before per-group multipliers (``param_groups[*].lr_mult``)."""
        for group in self.optimizer.param_groups:
            mult = group.get("lr_mult", 1.0)
            if mult:
                return float(group["lr"] / mult)
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self):
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict() if self.lr_scheduler is not None else None,
            "skipped_steps": self.skipped_steps,
        }

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and state.get("lr_scheduler") is not None:
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
