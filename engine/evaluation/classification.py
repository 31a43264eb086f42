"""Top-k accuracy of ``model.generator(batch[input_key])`` against ``batch[target_key]``."""
from typing import Sequence

import torch

from ..utils.errors import EngineError
from .build import EVALUATOR_REGISTRY
from ..utils import comm
from .evaluator import DatasetEvaluator

__all__ = ["ClassificationEvaluator"]


@EVALUATOR_REGISTRY.register()
class ClassificationEvaluator(DatasetEvaluator):
    def __init__(self, input_key: str = "input_data", target_key: str = "target_data",
                 topk: Sequence[int] = (1,)):
        self.input_key, self.target_key = input_key, target_key
        self.topk = tuple(int(k) for k in topk)
        self.reset()

    def reset(self):
        self._correct = [0.0] * len(self.topk)
        self._count = 0.0

    def process(self, model, batch):
        try:
            inputs, targets = batch[self.input_key], batch[self.target_key]
        except (KeyError, TypeError, IndexError):
            keys = list(batch) if isinstance(batch, dict) else type(batch).__name__
            raise EngineError(
                f"trainer.evaluator: batches need '{self.input_key}' and '{self.target_key}' "
                f"(set input_key/target_key); the validation batch has {keys}"
            ) from None
        scores = model.generator(inputs)
        targets = torch.as_tensor(targets).to(scores.device).view(-1)
        top = scores.topk(max(self.topk), dim=1).indices
        hits = top.eq(targets[:, None])
        for i, k in enumerate(self.topk):
            self._correct[i] += float(hits[:, :k].any(dim=1).sum())
        self._count += targets.numel()

    def evaluate(self):
        totals = comm.all_reduce_sum(self._correct + [self._count])
        count = max(totals[-1], 1.0)
        names = ["accuracy" if k == 1 else f"top{k}_accuracy" for k in self.topk]
        return {name: totals[i] / count for i, name in enumerate(names)}
