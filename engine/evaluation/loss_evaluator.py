"""Validation loss: the model's own ``run_step`` on held-out data, averaged per sample.

The default evaluator, because every model has a ``run_step`` while only some tasks
have a metric the engine could know about.
"""
from typing import Dict

import torch

from ..model.base_model import as_loss_dict
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator, _sum_reduce

__all__ = ["LossEvaluator"]


@EVALUATOR_REGISTRY.register()
class LossEvaluator(DatasetEvaluator):
    def __init__(self, prefix: str = "val_"):
        self.prefix = prefix
        self.reset()

    def reset(self):
        self._sums: Dict[str, float] = {}
        self._batches = 0

    def process(self, model, batch):
        losses = as_loss_dict(model.run_step(batch), type(model).__name__)
        for name, value in losses.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value)
        self._batches += 1

    def evaluate(self):
        names = sorted(self._sums)
        totals = _sum_reduce([self._sums[n] for n in names] + [self._batches])
        count = max(totals[-1], 1.0)
        results = {f"{self.prefix}{n}": totals[i] / count for i, n in enumerate(names)}
        if len(names) > 1:
            results[f"{self.prefix}total_loss"] = sum(totals[:-1]) / count
        return results
