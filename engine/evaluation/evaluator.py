"""The evaluator protocol and the loop that drives it over a validation loader.

An evaluator sees every batch once (``process``) and then reports a flat dict of
numbers (``evaluate``). It decides how to call the model: the seed's models expose
``generator(inputs)`` for inference, and ``run_step(batch)`` for losses.
"""
import logging
import time
from typing import Dict

import torch

__all__ = ["DatasetEvaluator", "run_evaluation"]

logger = logging.getLogger(__name__)


class DatasetEvaluator:
    def reset(self) -> None:
        """Forget the previous evaluation."""

    def process(self, model, batch) -> None:
        raise NotImplementedError

    def evaluate(self) -> Dict[str, float]:
        raise NotImplementedError


def _sum_reduce(values):
    """Sum accumulators across processes (a no-op in one process)."""
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor)
    return tensor.tolist()


def run_evaluation(model, loader, evaluator: DatasetEvaluator) -> Dict[str, float]:
    """Evaluate ``model`` (its EMA weights when enabled) on every batch of ``loader``."""
    evaluator.reset()
    start = time.perf_counter()
    with model.inference_weights():
        for batch in loader:
            evaluator.process(model, batch)
    results = evaluator.evaluate()
    logger.info("evaluation took %.2fs: %s", time.perf_counter() - start,
                ", ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return results
