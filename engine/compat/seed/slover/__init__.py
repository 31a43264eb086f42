"""The seed's ``engine.slover`` (its spelling): gradient-clipping optimizers and LR
schedulers, built on engine/solver."""
from .lr_scheduler import (EmptyLRScheduler, LRMultiplierScheduler, WarmupCosineLR,
                           WarmupMultiStepLR, WarmupParamScheduler, WarmupPolynomialDecay)
from .optimizer import GradientClipType, build_optimizer_with_gradient_clipping

__all__ = ["build_optimizer_with_gradient_clipping", "GradientClipType", "LRMultiplierScheduler",
           "EmptyLRScheduler", "WarmupParamScheduler", "WarmupCosineLR", "WarmupMultiStepLR",
           "WarmupPolynomialDecay"]
