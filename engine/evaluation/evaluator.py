"""The evaluator protocol and the loop that drives it over a validation loader.

An evaluator sees every batch once (``process``) and then reports a flat dict of
numbers (``evaluate``). It decides how to call the model: the seed's models expose
``generator(inputs)`` for inference, and ``run_step(batch)`` for losses.

With several processes each evaluates its contiguous shard of the set (a shard may be
empty) and ``evaluate`` runs on every rank and combines the shards: sums through
``comm.all_reduce_sum`` (one all_reduce), per-sample lists through :func:`gather_samples`.
"""
import logging
import time
from typing import Dict

from ..utils import comm

__all__ = ["DatasetEvaluator", "run_evaluation", "gather_samples"]

logger = logging.getLogger(__name__)


class DatasetEvaluator:
    def reset(self) -> None:
        """Forget the previous evaluation."""

    def process(self, model, batch) -> None:
        raise NotImplementedError

    def evaluate(self) -> Dict[str, float]:
        raise NotImplementedError


def gather_samples(items) -> list:
    """Per-sample results (predictions, ids...) of every process, in dataset order.

    With several processes each evaluates a contiguous shard of the validation set, the
    shards in rank order (``InferenceBatchSampler``); an evaluator that keeps one entry
    per sample calls this in ``evaluate()`` (on every rank: it is a collective) and gets
    the whole set's list, as one process would have built it."""
    return comm.gather_in_rank_order(items)


def run_evaluation(model, loader, evaluator: DatasetEvaluator) -> Dict[str, float]:
    """Evaluate ``model`` (its EMA weights when enabled) on every batch of ``loader``."""
    evaluator.reset()
    start = time.perf_counter()
    with model.inference_weights():
        for batch in loader:
            evaluator.process(model, batch)
    # Every rank goes on with rank 0's results (best checkpoint, hooks): ranks that acted
    # on different numbers (an evaluator that does not combine its shards) would diverge
    # and wait for each other forever.
    results = comm.broadcast_object(evaluator.evaluate())
    logger.info("evaluation took %.2fs: %s", time.perf_counter() - start,
                ", ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return results
