"""The seed's ``import_scheduler(name)``: an LR scheduler class by name. Its bundle looked
in ``engine.slover.lr_scheduler`` before ``torch.optim.lr_scheduler``; so does this."""
import torch

from engine.utils.errors import ConfigError

from .slover import lr_scheduler as _seed_schedulers

__all__ = ["import_scheduler"]

_LRScheduler = torch.optim.lr_scheduler.LRScheduler


def _scheduler(module, name):
    cls = getattr(module, str(name), None)
    return cls if isinstance(cls, type) and issubclass(cls, _LRScheduler) else None


def import_scheduler(name):
    cls = _scheduler(_seed_schedulers, name) or _scheduler(torch.optim.lr_scheduler, name)
    if cls is None:
        known = sorted(n for m in (_seed_schedulers, torch.optim.lr_scheduler) for n in dir(m)
                       if not n.startswith("_") and _scheduler(m, n) is not None)
        raise ConfigError(f"{name!r} is not an LR scheduler; known: {known}")
    return cls
