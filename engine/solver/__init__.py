"""Optimizers, LR schedules, clipping and mixed precision, built from a ``solver.<net>`` node."""
from .amp import Amp, build_amp
from .build import LR_SCHEDULER_REGISTRY, OPTIMIZER_REGISTRY
from .clip import GradientClipper
from .lr_scheduler import LRMultiplier, with_warmup, build_lr_scheduler
from .optimizer import build_optimizer
from .solver import Solver

__all__ = [
    "OPTIMIZER_REGISTRY",
    "LR_SCHEDULER_REGISTRY",
    "build_optimizer",
    "build_lr_scheduler",
    "LRMultiplier",
    "with_warmup",
    "GradientClipper",
    "Solver",
    "Amp",
    "build_amp",
]
