"""The seed's GAN-bundle names (TrainFramework's ``BaseGanModel``), on top of ours.

The seed keys its discriminators by name, ``'default'`` for the one of a
``discriminator=dict(name=...)`` config (ours: ``'d'``); ``dmodel_forward`` runs them
as the seed's does and answers under the seed's names, and ``d_optimizer`` /
``d_scheduler`` are the optimizers and LR schedules our solvers hold. ``self.d_model``
stays ours (the discriminator itself when there is one; ``self.d_models`` by name).
"""
from typing import Dict

import torch

__all__ = ["SeedGanAPI"]


class SeedGanAPI:
    """BaseGanModel's seed-named methods and attributes (see the module docstring)."""

    DEFAULT_DMODEL_NAME = "default"

    def _seed_names(self) -> Dict[str, str]:
        """seed name -> our name of each discriminator."""
        if len(self.d_models) == 1:
            return {self.DEFAULT_DMODEL_NAME: next(iter(self.d_models))}
        return {name: name for name in self.d_models}

    def dmodel_forward(self, d_model_input) -> Dict[str, torch.Tensor]:
        """``dict(input_name=tensor)`` for the one discriminator, or
        ``dict(<name>=dict(input_name=tensor), ...)``: each discriminator called with its
        inputs as keyword arguments; returns ``{name: output}`` under the seed's names."""
        names = self._seed_names()
        if all(isinstance(value, torch.Tensor) for value in d_model_input.values()):
            d_model_input = {self.DEFAULT_DMODEL_NAME: d_model_input}
        unknown = [name for name in d_model_input if name not in names]
        if unknown:
            raise KeyError(f"dmodel_forward: no discriminator named {unknown}; there are {sorted(names)}")
        return {name: self.d_models[names[name]](**inputs) for name, inputs in d_model_input.items()}

    @property
    def d_optimizer(self) -> Dict[str, torch.optim.Optimizer]:
        return {seed: self.d_solvers[ours].optimizer for seed, ours in self._seed_names().items()}

    @property
    def d_scheduler(self) -> Dict[str, object]:
        return {seed: self.d_solvers[ours].lr_scheduler for seed, ours in self._seed_names().items()}
