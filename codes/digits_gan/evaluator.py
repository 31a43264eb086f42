"""A cheap sample-quality score for the digits GAN: a frozen digit classifier (logistic
regression fitted on the training split once per process, 97% validation accuracy)
reads generated images.

* ``digit_score`` = exp(E_x KL(p(y|x) || p(y))): the Inception Score with that classifier,
  from 1 (useless) to 10 (every sample a confident digit, all ten digits equally often);
  ``real_digit_score`` is the same on the validation images, the ceiling to compare with.
* ``confidence``: mean top probability on generated images.
"""
import functools
from typing import Dict

import numpy as np
import torch

from engine.evaluation.build import EVALUATOR_REGISTRY
from engine.evaluation.evaluator import DatasetEvaluator
from engine.utils import comm

from ..digits.dataset import load_digits_split

__all__ = ["DigitsSampleEvaluator"]


@functools.lru_cache(maxsize=1)
def digits_classifier():
    """Fitted once per process: images in [-1, 1] (as the GAN sees them) -> digit."""
    from sklearn.linear_model import LogisticRegression

    images, labels = load_digits_split("train")
    features = images.reshape(len(images), -1) / 127.5 - 1.0
    return LogisticRegression(max_iter=2000).fit(features, labels)


@EVALUATOR_REGISTRY.register()
class DigitsSampleEvaluator(DatasetEvaluator):
    def __init__(self, seed: int = 0):
        self.classifier = digits_classifier()
        self.seed = seed
        self.reset()

    def reset(self):
        self._sums = {"fake": np.zeros(12), "real": np.zeros(12)}  # 10 marginals, sum p log p, n
        self._confidence = 0.0
        # the same latents at every evaluation; other ones on each process
        self._z = torch.Generator().manual_seed(self.seed + 7919 * comm.get_rank())

    def _add(self, kind: str, images: torch.Tensor) -> np.ndarray:
        x = images.detach().float().cpu().reshape(len(images), -1).numpy()
        p = np.clip(self.classifier.predict_proba(x), 1e-12, 1.0)
        self._sums[kind][:10] += p.sum(0)
        self._sums[kind][10] += float((p * np.log(p)).sum())
        self._sums[kind][11] += len(p)
        return p

    def process(self, model, batch):
        real = batch["input_data"]
        z = torch.randn(len(real), model.z_dim, generator=self._z)
        p = self._add("fake", model.generator(z))
        self._confidence += float(p.max(1).sum())
        self._add("real", real)

    def evaluate(self) -> Dict[str, float]:
        totals = comm.all_reduce_sum(list(self._sums["fake"]) + list(self._sums["real"]) + [self._confidence])
        out = {}
        for kind, part in (("", totals[:12]), ("real_", totals[12:24])):
            n = max(part[11], 1.0)
            marginal = np.clip(np.asarray(part[:10]) / n, 1e-12, 1.0)
            mean_kl = part[10] / n - float((marginal * np.log(marginal)).sum())
            out[f"{kind}digit_score"] = float(np.exp(mean_kl))
        out["confidence"] = totals[24] / max(totals[11], 1.0)
        return out
