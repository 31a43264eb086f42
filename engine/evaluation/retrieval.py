"""Embeddings (feature learning): verification and nearest-neighbour retrieval.

``model.generator(batch[input_key])`` gives N x D embeddings, ``batch[target_key]`` the N
identities (class labels). Embeddings are L2-normalised and compared by cosine
similarity. The embeddings of every process are gathered on every process; the metrics
use all pairs of the set, so time and memory grow as N^2 (about 10k samples fit a few
GB; evaluate on a subset beyond that).
"""
from typing import Sequence

import numpy as np
import torch

from ..utils.errors import ConfigError, EngineError
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator, SampleOutputs, batch_fields, describe, gather_samples
from .finite_outputs import NonFiniteOutputs, finite_rows

__all__ = ["RetrievalEvaluator", "tpr_at_fpr"]


def tpr_at_fpr(scores: torch.Tensor, positive: torch.Tensor, fprs: Sequence[float]) -> list:
    """The verification rate at each false-accept rate: a pair is accepted when its score
    is at least a threshold; for each target FPR the highest TPR over the thresholds
    whose FPR does not exceed it (the ROC point sklearn's ``roc_curve`` lists; 0 when even
    the strictest threshold is above the target, NaN without positive or negative pairs)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return [float("nan")] * len(fprs)
    order = scores.argsort(descending=True)
    sorted_scores, hits = scores[order], positive[order]
    tp, fp = hits.cumsum(0), (~hits).cumsum(0)
    # one ROC point per distinct score: the last pair of each run of equal scores
    last = torch.ones_like(hits)
    last[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    tpr, fpr = tp[last].double() / n_pos, fp[last].double() / n_neg
    out = []
    for target in fprs:
        ok = fpr <= target
        out.append(float(tpr[ok].max()) if ok.any() else 0.0)
    return out


@EVALUATOR_REGISTRY.register()
class RetrievalEvaluator(DatasetEvaluator):
    """``tpr_at_fpr_<f>`` for each ``f`` in ``fprs`` (verification over all pairs of
    the set: same label = positive pair) and ``top1_accuracy`` (leave-one-out: each
    sample takes the label of its most similar other sample). Per-sample outputs:
    ``{'embedding', 'label', 'nearest', 'nearest_label'}`` (the normalised embedding,
    the ground truth, the index in the set of the nearest other sample and its label).
    An embedding holding NaN or inf makes every metric NaN (finite_outputs.py)."""

    def __init__(self, input_key: str = "input_data", target_key: str = "target_data",
                 fprs: Sequence[float] = (0.01, 0.001)):
        self.input_key, self.target_key = input_key, target_key
        self.fprs = tuple(float(f) for f in fprs)
        if not all(0 < f < 1 for f in self.fprs):
            raise ConfigError(f"trainer.evaluator (RetrievalEvaluator): fprs must be in (0, 1), got {list(fprs)}")
        self.reset()

    def reset(self):
        self._chunks = []  # (N x D float32 embeddings, N labels) per batch of this process
        self._samples = SampleOutputs(self)
        self._nonfinite = NonFiniteOutputs("RetrievalEvaluator")

    def process(self, model, batch):
        inputs, targets = batch_fields(batch, {"input_key": self.input_key, "target_key": self.target_key},
                                       "RetrievalEvaluator")
        embeddings = model.generator(inputs)
        if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
            raise EngineError("RetrievalEvaluator: model.generator(inputs) must return N x D embeddings, "
                              f"got {describe(embeddings)}")
        labels = torch.as_tensor(targets).reshape(-1)
        if labels.numel() != len(embeddings):
            raise EngineError(f"RetrievalEvaluator: {len(embeddings)} embeddings but {labels.numel()} "
                              f"labels in '{self.target_key}'")
        self._nonfinite.add(finite_rows(embeddings))
        normalised = torch.nn.functional.normalize(embeddings.detach().float(), dim=1)
        self._chunks.append((normalised.cpu().numpy(), labels.cpu().numpy().astype(np.int64)))

    def evaluate(self):
        chunks = gather_samples(self._chunks)
        dims = {c[0].shape[1] for c in chunks}
        if len(dims) > 1:
            raise EngineError(f"RetrievalEvaluator: embeddings of different sizes {sorted(dims)}")
        names = [f"tpr_at_fpr_{f:g}" for f in self.fprs] + ["top1_accuracy"]
        n = sum(len(c[1]) for c in chunks)
        if n < 2:
            self._samples.adopt({"embedding": c[0][k], "label": int(c[1][k]), "nearest": -1, "nearest_label": -1}
                                for c in chunks for k in range(len(c[1])))
            return self._nonfinite.apply({name: float("nan") for name in names})
        embeddings = torch.from_numpy(np.concatenate([c[0] for c in chunks]))
        labels = torch.from_numpy(np.concatenate([c[1] for c in chunks]))
        similarity = embeddings @ embeddings.T
        i, j = torch.triu_indices(n, n, offset=1)
        rates = tpr_at_fpr(similarity[i, j], labels[i] == labels[j], self.fprs)
        similarity.fill_diagonal_(-float("inf"))  # leave-one-out
        nearest = similarity.argmax(dim=1)
        top1 = float((labels[nearest] == labels).double().mean())
        if self.keep_predictions:
            self._samples.adopt(
                {"embedding": embeddings[k].numpy(), "label": int(labels[k]), "nearest": int(nearest[k]),
                 "nearest_label": int(labels[nearest[k]])} for k in range(n))
        return self._nonfinite.apply(dict(zip(names, rates + [top1])))

    def predictions(self):
        return self._samples.result()
