"""Validation loss: the model's own ``run_step`` on held-out data, averaged per sample
(each batch's mean loss weighted by its number of samples, so a short last batch does
not count as much as a full one).

The default evaluator, because every model has a ``run_step`` while only some tasks
have a metric the engine could know about.
"""
import math
from typing import Dict

import torch

from ..model.base_model import as_loss_dict
from ..utils import comm
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator
from .finite_outputs import NonFiniteOutputs

__all__ = ["LossEvaluator"]


def batch_size_of(batch) -> int:
    """Samples in a collated batch: the length of its first tensor (1 if it has none)."""
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else [batch]
    for value in values:
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return 1


@EVALUATOR_REGISTRY.register()
class LossEvaluator(DatasetEvaluator):
    def __init__(self, prefix: str = "val_"):
        self.prefix = prefix
        self.reset()

    def reset(self):
        self._components = frozenset()  # names training found to be parts of another term
        self._sums: Dict[str, float] = {}
        self._samples = 0
        self._nonfinite = NonFiniteOutputs("LossEvaluator")

    def process(self, model, batch):
        losses = as_loss_dict(model.run_step(batch), type(model).__name__)
        self._components = getattr(model, "loss_components", self._components)
        losses = {name: float(value) for name, value in losses.items()}
        n = batch_size_of(batch)
        self._nonfinite.add([all(map(math.isfinite, losses.values()))] * n)
        for name, value in losses.items():
            self._sums[name] = self._sums.get(name, 0.0) + value * n
        self._samples += n

    def evaluate(self):
        # a rank with an empty shard has seen no loss names
        names = sorted(set().union(*comm.all_gather_object(sorted(self._sums))))
        totals = comm.all_reduce_sum([self._sums.get(n, 0.0) for n in names] + [self._samples])
        count = max(totals[-1], 1.0)
        results = {f"{self.prefix}{n}": totals[i] / count for i, n in enumerate(names)}
        counted = [totals[i] for i, n in enumerate(names) if n not in self._components]
        if len(counted) > 1:  # the components of a total (engine/model/step.py) count once, in it
            results[f"{self.prefix}total_loss"] = sum(counted) / count
        return self._nonfinite.apply(results)
