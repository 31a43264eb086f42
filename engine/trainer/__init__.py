"""The training loop (BaseTrainer), its hooks and the trainer registry.

Imported on first use, so ``import engine.trainer.build`` does not pull in the loop.
"""
import importlib

_EXPORTS = {"BaseTrainer": "trainer", "BUILD_TRAINER_REGISTRY": "build", "build_trainer": "build"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
