"""The model bundle (networks, optimizers, LR schedules, EMA) and the network registry.

The names below are imported on first use, so ``import engine.model.build`` stays light
and the bundle's modules can import the registries without a cycle.
"""
import importlib

_EXPORTS = {
    "BaseModel": "base_model",
    "BaseGanModel": "gan_model",
    "BUILD_MODEL_REGISTRY": "build",
    "BUILD_NETWORK_REGISTRY": "build",
    "build_model": "build",
    "build_network": "build",
    "EMA": "ema",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
