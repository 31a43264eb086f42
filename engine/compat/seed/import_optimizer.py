"""The seed's ``import_optimizer(name)``: an optimizer class by name, from our
OPTIMIZER_REGISTRY (torch.optim's and any a project registered), then torch.optim."""
import torch

from engine.solver.build import OPTIMIZER_REGISTRY

__all__ = ["import_optimizer"]


def import_optimizer(name):
    if name in OPTIMIZER_REGISTRY:
        return OPTIMIZER_REGISTRY.get(name)
    cls = getattr(torch.optim, str(name), None)  # LBFGS: not in the registry (needs a closure)
    if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer):
        return cls
    return OPTIMIZER_REGISTRY.get(name)  # the registry's error: known names, did-you-mean
