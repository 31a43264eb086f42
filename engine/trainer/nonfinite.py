"""The non-finite guard: what happens when a step's loss (or gradient) is NaN or inf.

``solver.skip_nonfinite_steps = N``:

* ``N == 0`` (default): the first non-finite loss stops training with an error naming
  the iteration and the loss terms, *before* the optimizer step, so the model is never
  updated with it; the last checkpoint is kept as it was.
* ``N > 0``: up to ``N`` non-finite steps over the whole run (the count is saved in
  checkpoints, so it survives a resume) are *skipped*: no optimizer step, no EMA update,
  gradients zeroed, the networks' buffers (BatchNorm statistics) put back as they were
  before the step's forward pass. The LR schedule still advances and the step's data is
  consumed, because both follow the iteration count. The step after the ``N``-th skip
  that is again non-finite stops training as with ``N == 0``. With skipping on, the
  gradients are checked too (a finite loss can still overflow in backward).

The guard is the trainer's step gate (the step contract, engine/model/step.py
``StepGate``): ``BaseModel.train_iteration`` asks its :meth:`~NonFiniteGuard.decide`
after backward, before the optimizer step. In one collective per step (per phase for a
GAN) every process agrees there on the non-finite verdict (a NaN on one rank must stop
or skip all), on a float16 overflow, on a stop signal (SIGTERM/SIGINT, preemption.py) and
on which ranks have a ``request_stop`` waiting (stopping.py). The verdict comes back in
the step's result; nothing is read back from the guard afterwards.

In the common case under DDP (no skipping, no float16 scaler, one DDP network) that
agreement costs no collective of its own: the trainer hands the model the bucket
agreement around the guard instead (ddp_agreement.py, chosen once when the trainer is
built), which sends this rank's stop signal and loss verdict (:meth:`device_flags`, known
after the forward pass) in DDP's last gradient bucket and passes the sums to
:meth:`decide` as ``agreed``. DDP's all-reduced gradients are the same on every rank, so
they need no verdict of their own then. With skipping or a scaler the gradients' verdict
is part of the agreement: one collective after backward.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence

import torch

from ..model.step import OVERFLOW, SKIPPED, STEPPED, Outcome, StepGate, StepResult, host_floats
from ..utils import comm
from ..utils.errors import ConfigError, EngineError
from ..utils.finite import all_finite
from .preemption import EXIT_CODES
from .stopping import asked_flags

__all__ = ["NonFiniteGuard", "nonfinite_terms"]

_SIGNALS = sorted(EXIT_CODES)  # the stop signals, one agreement flag each


def nonfinite_terms(loss_dict: Dict[str, float]) -> List[str]:
    return [name for name, value in loss_dict.items() if not math.isfinite(value)]


class NonFiniteGuard(StepGate):
    def __init__(self, max_skips: int, networks: Callable[[], List[torch.nn.Module]],
                 stop_flag: Callable[[], int] = lambda: 0, asked: Callable[[], bool] = lambda: False):
        if int(max_skips) < 0:
            raise ConfigError(f"solver.skip_nonfinite_steps must be >= 0, got {max_skips}")
        self.max_skips = int(max_skips)
        self.skipped = 0                   # skipped steps over the whole run (checkpointed)
        self._networks = networks
        self._stop_flag = stop_flag        # this process's stop signal number, 0 if none
        self._asked = asked                # whether a request_stop waits on this process
        self.iteration = 0
        self._buffers = []

    # ------------------------------------------------------------ per step
    def begin(self, iteration: int) -> None:
        """Before the step's forward passes: remember the buffers when skipping is on."""
        self.iteration = iteration
        if self.max_skips:
            self._buffers = [(b, b.detach().clone()) for net in self._networks() for b in net.buffers()]

    def device_flags(self, losses: Sequence[torch.Tensor]) -> torch.Tensor:
        """This rank's verdict as known before backward, computed where the losses are (no
        host read): 0/1 floats [non-finite loss, each stop signal, each rank's waiting
        request_stop]; :meth:`decide` reads their sums over processes (``agreed``)."""
        bad = torch.stack([~torch.isfinite(v.detach().reshape(())) for v in losses]).any().reshape(1)
        stop = self._stop_flag()
        flags = torch.tensor([float(stop == s) for s in _SIGNALS] + self._asked_flags(), device=bad.device)
        return torch.cat([bad.float(), flags])

    def decide(self, losses: Dict[str, torch.Tensor], overflow: bool,
               agreed: Optional[List[int]] = None) -> Outcome:
        """The gate (engine/model/step.py): take the step, let the float16 scaler skip it
        (``overflow`` with finite losses everywhere), or skip it as non-finite; raises
        when it is non-finite and no skip is left. The losses are read to the host once.
        ``agreed``: the sums of every process's :meth:`device_flags`, when they came with
        the gradients (ddp_agreement.py); else the processes agree in one collective."""
        floats = dict(zip(losses, host_floats(losses.values())))
        bad_loss = not all(math.isfinite(v) for v in floats.values())
        bad_grads = bool(self.max_skips) and not overflow and not bad_loss and not self._gradients_finite()
        local = "loss" if bad_loss else "gradients" if bad_grads else ""
        if agreed is not None:  # carried by the gradient all-reduce: stop and loss verdict
            bad_loss = agreed[0] > 0
            stop = max([s for s, n in zip(_SIGNALS, agreed[1:]) if n > 0], default=0)
            asked = agreed[1 + len(_SIGNALS):]
        else:
            stop, bad_loss, bad_grads, overflow, *asked = comm.all_reduce_max(
                [self._stop_flag(), bad_loss, bad_grads, overflow] + self._asked_flags())
        asked_by = tuple(r for r, n in enumerate(asked) if n > 0)
        if not (bad_loss or bad_grads):
            return Outcome(OVERFLOW if overflow else STEPPED, stop=stop, asked_by=asked_by, floats=floats)
        reason = local or "loss or gradients on another process (its log.rank<N>.txt names them)"
        if self.skipped >= self.max_skips:
            raise EngineError(self.stop_message(floats, reason))
        self.skipped += 1
        with torch.no_grad():
            for buffer, saved in self._buffers:
                buffer.copy_(saved)
        return Outcome(SKIPPED, reason, stop=stop, asked_by=asked_by, floats=floats)

    # ------------------------------------------------------------ a bundle without a gate
    def refuse_skipping(self, owner: str) -> None:
        """A bundle whose train_iteration takes no ``before_step`` cannot skip a step."""
        if self.max_skips:
            raise ConfigError(f"solver.skip_nonfinite_steps needs {owner}.train_iteration to take a before_step= "
                              f"argument (BaseModel.train_iteration does); set it to 0 or pass it on")

    def judge_ungated(self, losses: Dict[str, torch.Tensor]) -> StepResult:
        """After such a bundle's step: the stop signal and the waiting stop requests agreed
        in one collective; a non-finite loss stops the run (the step was taken already)."""
        stop, *asked = comm.all_reduce_max([self._stop_flag()] + self._asked_flags())
        result = StepResult(losses, Outcome(stop=stop, asked_by=tuple(r for r, n in enumerate(asked) if n > 0)))
        if not all(math.isfinite(value) for value in result.floats().values()):
            raise EngineError(self.stop_message(result.floats()))
        return result

    def _asked_flags(self) -> List[float]:
        return asked_flags(self._asked(), comm.get_rank(), comm.get_world_size())

    def _gradients_finite(self) -> bool:
        return all_finite(p.grad for net in self._networks() for p in net.parameters() if p.grad is not None)

    def stop_message(self, loss_dict: Dict[str, float], reason: str = "loss") -> str:
        terms = nonfinite_terms(loss_dict)
        what = (f"non-finite loss at iteration {self.iteration + 1}: "
                + ", ".join(f"{n}={loss_dict[n]}" for n in terms)) if terms else \
            f"non-finite {reason} at iteration {self.iteration + 1}"
        budget = (f"; {self.skipped} non-finite step(s) already skipped, the most "
                  f"solver.skip_nonfinite_steps={self.max_skips} allows") if self.max_skips else \
            " (set solver.skip_nonfinite_steps to skip such steps instead)"
        return what + budget + "; training stopped, the last checkpoint is kept as it was"

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> Dict[str, int]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self.skipped = int(state.get("skipped", 0))
