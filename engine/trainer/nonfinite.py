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

The guard is the ``before_step`` callback of ``BaseModel.train_iteration``. With several
processes all ranks agree on the verdict (a NaN on one rank must stop or skip all).
"""
import math
from typing import Callable, Dict, List, Optional

import torch

from ..utils.errors import ConfigError, EngineError
from ..utils import comm
from ..utils.finite import all_finite

__all__ = ["NonFiniteGuard", "nonfinite_terms"]


def nonfinite_terms(loss_dict: Dict[str, float]) -> List[str]:
    return [name for name, value in loss_dict.items() if not math.isfinite(value)]


class NonFiniteGuard:
    def __init__(self, max_skips: int, networks: Callable[[], List[torch.nn.Module]]):
        if int(max_skips) < 0:
            raise ConfigError(f"solver.skip_nonfinite_steps must be >= 0, got {max_skips}")
        self.max_skips = int(max_skips)
        self.skipped = 0                   # skipped steps over the whole run (checkpointed)
        self._networks = networks
        self.iteration = 0
        self.skipped_now: Optional[str] = None  # why this step was skipped: 'loss' / 'gradients'
        self._buffers = []

    # ------------------------------------------------------------ per step
    def begin(self, iteration: int) -> None:
        """Before the step's forward passes: remember the buffers when skipping is on."""
        self.iteration = iteration
        self.skipped_now = None
        if self.max_skips:
            self._buffers = [(b, b.detach().clone()) for net in self._networks() for b in net.buffers()]

    def __call__(self, losses: Dict[str, torch.Tensor]) -> bool:
        """``before_step``: True to take the optimizer step, False to skip it; raises
        when the step is non-finite and no skip is left. A bundle with several phases per
        iteration (a GAN's D and G steps) calls it once per phase: from the first
        non-finite phase on, the iteration's remaining steps are skipped, counted once."""
        if self.skipped_now:
            return False
        reason = None
        if not all_finite(losses.values()):
            reason = "loss"
        elif self.max_skips and not self._gradients_finite():
            reason = "gradients"
        if not comm.any_rank(int(reason is not None)):
            return True
        reason = reason or "loss or gradients on another process (its log.rank<N>.txt names them)"
        if self.skipped >= self.max_skips:
            raise EngineError(self.stop_message({k: float(v) for k, v in losses.items()}, reason))
        self.skipped += 1
        self.skipped_now = reason
        with torch.no_grad():
            for buffer, saved in self._buffers:
                buffer.copy_(saved)
        return False

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
