"""The evaluator protocol and the loop that drives it over a validation loader.

An evaluator sees every batch once (``process``) and then reports a flat dict of
numbers (``evaluate``). It decides how to call the model: the seed's models expose
``generator(inputs)`` for inference, and ``run_step(batch)`` for losses.

With several processes each evaluates its contiguous shard of the set (a shard may be
empty) and ``evaluate`` runs on every rank and combines the shards: sums through
``comm.all_reduce_sum`` (one all_reduce), per-sample lists through :func:`gather_samples`.

Two optional services, set by whoever runs the evaluation (``build_evaluator(...,
output_dir=..., keep_predictions=...)``, the test tool), never by the config:
``output_dir`` is where an evaluator may write files (figures) from rank 0, and
``keep_predictions`` asks ``evaluate()`` to also gather one dict per sample, which
``predictions()`` then returns in dataset order (what ``engine-test --out`` writes).
"""
import logging
import time
from typing import Any, Dict, List, Optional

import torch

from ..data.failures import check_batch_type
from ..utils import comm
from ..utils.errors import ConfigError, EngineError

__all__ = ["DatasetEvaluator", "run_evaluation", "gather_samples", "SampleOutputs"]

logger = logging.getLogger(__name__)


class DatasetEvaluator:
    #: a folder for the evaluator's files (e.g. ``confusion_matrix.png``); None: none written
    output_dir: Optional[str] = None
    #: whether ``evaluate()`` also gathers the per-sample outputs ``predictions()`` returns
    keep_predictions: bool = False

    def reset(self) -> None:
        """Forget the previous evaluation."""

    def process(self, model, batch) -> None:
        raise NotImplementedError

    def evaluate(self) -> Dict[str, float]:
        raise NotImplementedError

    def predictions(self) -> List[Dict[str, Any]]:
        """One dict per sample of the whole set, in dataset order, from the last
        ``evaluate()`` (on every rank); only with ``keep_predictions``."""
        raise EngineError(f"{type(self).__name__} does not keep per-sample predictions")


def gather_samples(items) -> list:
    """Per-sample results (predictions, ids...) of every process, in dataset order.

    With several processes each evaluates a contiguous shard of the validation set, the
    shards in rank order (``InferenceBatchSampler``); an evaluator that keeps one entry
    per sample calls this in ``evaluate()`` (on every rank: it is a collective) and gets
    the whole set's list, as one process would have built it."""
    return comm.gather_in_rank_order(items)


def batch_fields(batch, keys: Dict[str, str], owner: str) -> list:
    """``[batch[key] for key in keys.values()]``, or an error that names the keys wanted
    (and the evaluator arguments that set them) and the keys the batch has.

    ``keys`` maps each argument name to its value: ``{'input_key': 'input_data', ...}``.
    A batch that is not a dict is the training loader's error too (``check_batch_type``)."""
    wanted = " and ".join(repr(k) for k in keys.values())
    check_batch_type(batch, "validation", f"the validation set (read by {owner})",
                     f" with {wanted} (set {'/'.join(keys)})")
    try:
        return [batch[key] for key in keys.values()]
    except (KeyError, TypeError, IndexError):
        present = sorted(map(str, batch))
        raise EngineError(
            f"trainer.evaluator ({owner}): batches need {wanted} (set {'/'.join(keys)}); "
            f"the validation batch has {present}"
        ) from None


def describe(value) -> str:
    """What a model returned, for an error message: a tensor's shape, else its type."""
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {list(value.shape)}"
    return type(value).__name__


def class_names_for(num_classes: int, class_names, owner: str) -> List[str]:
    """The names per-class metrics use: ``class_names`` when given, else ``'0'``, ``'1'``..."""
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise ConfigError(f"trainer.evaluator ({owner}): class_names has {len(names)} names "
                          f"for num_classes={num_classes}")
    return names


class SampleOutputs:
    """The per-sample outputs of an evaluator: appended locally by ``process``, gathered
    over processes by ``evaluate`` (a collective: every rank calls ``gather``), read by
    ``predictions()``. Holds nothing unless the evaluator keeps predictions."""

    def __init__(self, owner: DatasetEvaluator):
        self._owner = owner
        self.local: List[Dict[str, Any]] = []
        self.gathered: Optional[List[Dict[str, Any]]] = None

    def extend(self, items) -> None:
        if self._owner.keep_predictions:
            self.local.extend(items)

    def gather(self) -> None:
        if self._owner.keep_predictions:
            self.gathered = gather_samples(self.local)

    def adopt(self, items) -> None:
        """The whole set's outputs, for an evaluator that gathered the samples already."""
        if self._owner.keep_predictions:
            self.gathered = list(items)

    def result(self) -> List[Dict[str, Any]]:
        name = type(self._owner).__name__
        if not self._owner.keep_predictions:
            raise EngineError(f"{name}.predictions(): built without keep_predictions=True "
                              f"(build_evaluator(..., keep_predictions=True))")
        if self.gathered is None:
            raise EngineError(f"{name}.predictions(): call evaluate() first")
        return self.gathered


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
