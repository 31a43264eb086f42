"""One network's optimizer, LR schedule and gradient clipping, stepped as one unit.

Kept apart from the model bundle so a bundle with several networks (a GAN's generator
and discriminators) holds one ``Solver`` each. Clipping is an explicit call between
backward and step: no optimizer subclassing.
"""
from typing import Optional

import torch

from .clip import GradientClipper
from .lr_scheduler import build_lr_scheduler
from .optimizer import build_optimizer

__all__ = ["Solver"]


class Solver:
    def __init__(self, network: torch.nn.Module, node, max_iter: int, where: str = "solver.generator"):
        self.optimizer = build_optimizer(network, node.OPTIMIZER, where=f"{where}.optimizer")
        self.lr_scheduler = build_lr_scheduler(
            self.optimizer, node.LR_SCHEDULER, max_iter, where=f"{where}.lr_scheduler"
        )
        self.clipper = GradientClipper.from_optimizer_node(node.OPTIMIZER, where=f"{where}.optimizer")
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> Optional[torch.Tensor]:
        """Clip, step the optimizer, advance the schedule; returns the grad norm if clipped."""
        norm = self.clipper(self.params) if self.clipper.enabled else None
        self.optimizer.step()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        return norm

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self):
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict() if self.lr_scheduler is not None else None,
        }

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and state.get("lr_scheduler") is not None:
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
