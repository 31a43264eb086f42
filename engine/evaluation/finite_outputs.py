"""Outputs holding NaN or inf are not scored: they turn every metric into NaN, with a warning.

A diverged model (NaN weights) still produces outputs of the right shape, and every
metric happily turns them into a plausible number: an all-NaN score row is an argmax of
class 0, an all-NaN logit map a map of the first class, NaN boxes a COCO result. Such a
number would be logged, compared by ``solver.best_metric`` and reported by engine-test
as if it measured the model. So every built-in evaluator counts the samples whose
outputs are not all finite, and when there is one (on any process), ``evaluate()`` warns
with the evaluator's name and the count, and reports every metric as NaN: no partial
score over the finite samples either, as it would measure another set. NaN is what
``solver.best_metric`` never counts as an improvement (engine/trainer/best.py).
"""
import logging
from typing import Dict

import numpy as np
import torch

from ..utils import comm

__all__ = ["NonFiniteOutputs", "finite_rows"]

logger = logging.getLogger(__name__)


def finite_rows(values) -> np.ndarray:
    """One bool per sample (the first dimension) of a tensor or array: all its values finite."""
    if isinstance(values, torch.Tensor):
        if not values.is_floating_point() or not len(values):
            return np.ones(len(values), bool)
        return torch.isfinite(values.detach().reshape(len(values), -1)).all(dim=1).cpu().numpy()
    values = np.asarray(values)
    if values.dtype.kind not in "fc" or not len(values):
        return np.ones(len(values), bool)
    return np.isfinite(values.reshape(len(values), -1)).all(axis=1)


class NonFiniteOutputs:
    """The count an evaluator keeps: ``add`` per batch, ``apply`` in ``evaluate()`` (a
    collective: every process calls it)."""

    def __init__(self, owner: str):
        self.owner = owner
        self.bad = 0
        self.seen = 0

    def add(self, finite) -> np.ndarray:
        """Count a batch's per-sample finite flags; returns them (as a bool array)."""
        finite = np.asarray(finite, bool).reshape(-1)
        self.bad += int((~finite).sum())
        self.seen += len(finite)
        return finite

    def apply(self, results: Dict[str, float]) -> Dict[str, float]:
        """``results``, or all NaN (with a warning) when a sample of any process had a
        non-finite output."""
        bad, seen = comm.all_reduce_sum([self.bad, self.seen])
        if not bad:
            return results
        logger.warning("%s: %d of %d samples have non-finite outputs (NaN or inf): every metric is "
                       "reported as NaN; the model has probably diverged (check its weights, "
                       "e.g. with engine-ckpt-show)", self.owner, int(bad), int(seen))
        return {name: float("nan") for name in results}
