"""Hooks: extend the training loop without subclassing the trainer (doc/trainer.md)."""
from .base import BUILD_HOOK_REGISTRY, HookBase, Priority, WriterHook, build_hooks
from .builtin import NonFiniteSkips, PeriodicEval, Preemption, ProgressBar
from .checkpoint import BestCheckpoint, ModelCheckpoint, PeriodicCheckpoint
from .monitors import EarlyStopping, GradientNormMonitor, LearningRateMonitor, ModelSummary
from .writers import ConsoleWriter, JsonWriter, MetricsLogger, TensorboardWriter, Writers

__all__ = [
    "BUILD_HOOK_REGISTRY", "HookBase", "WriterHook", "Priority", "build_hooks",
    "NonFiniteSkips", "PeriodicEval", "Preemption", "ProgressBar",
    "PeriodicCheckpoint", "BestCheckpoint", "ModelCheckpoint",
    "EarlyStopping", "LearningRateMonitor", "GradientNormMonitor", "ModelSummary",
    "MetricsLogger", "Writers", "ConsoleWriter", "JsonWriter", "TensorboardWriter",
]
