"""engine: a plain-PyTorch training engine (config -> scheduler -> trainer -> model bundle)."""
from .compat.seed import modules as _seed_modules

__version__ = "0.1.0"

_seed_modules.install()  # the seed engine's module paths (engine/compat/seed/modules.py)


def __getattr__(name):
    if name == "TORCH_VERSION":  # the seed's engine.TORCH_VERSION: (major, minor)
        import torch

        return tuple(int(x) for x in torch.__version__.split(".")[:2])
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
