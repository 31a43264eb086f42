"""Classification: top-k accuracy, per-class accuracy and the confusion matrix of
``model.generator(batch[input_key])`` (N x C scores) against ``batch[target_key]`` (N labels).

The confusion matrix (rows: ground truth, columns: the top-1 prediction) is summed over
processes; with an ``output_dir`` it is drawn to ``confusion_matrix.png`` there after each
evaluation. Per-sample outputs: ``{'label', 'score', 'target'}`` (the top-1 class, its
score as the model gave it, the ground truth).
"""
import os
from typing import Optional, Sequence

import numpy as np
import torch

from ..utils import comm
from ..utils.errors import ConfigError, EngineError
from .build import EVALUATOR_REGISTRY
from .confusion import count_confusion, draw_confusion_matrix
from .evaluator import DatasetEvaluator, SampleOutputs, batch_fields, class_names_for, describe
from .finite_outputs import NonFiniteOutputs, finite_rows

__all__ = ["ClassificationEvaluator"]


def integer_targets(targets: torch.Tensor, key: str) -> torch.Tensor:
    """Class indices as int64; float targets must hold whole numbers (3.0, not 2.7: a
    soft or mixed-up label has no single class, and truncating it would score a guess)."""
    if targets.is_floating_point():
        whole = torch.isfinite(targets) & (targets == targets.round())
        if not bool(whole.all()):
            bad = targets.reshape(-1)[~whole.reshape(-1)][0].item()
            raise EngineError(f"ClassificationEvaluator: targets in '{key}' must be class indices, got "
                              f"{bad!r} (float labels must be whole numbers; soft or mixed labels "
                              f"cannot be scored by accuracy)")
    return targets.long()


@EVALUATOR_REGISTRY.register()
class ClassificationEvaluator(DatasetEvaluator):
    """``accuracy`` (and ``top<k>_accuracy`` per other k); with ``per_class``,
    ``accuracy_class_<name>`` (the share of that class's samples predicted right, NaN for
    a class with no samples) and ``mean_class_accuracy`` (their mean over classes with
    samples). ``num_classes`` defaults to ``len(class_names)``, else to the score width.
    An empty set, or a score row holding NaN or inf (finite_outputs.py), makes every
    metric NaN; such a row's per-sample output is label -1 with its (non-finite) score."""

    def __init__(self, input_key: str = "input_data", target_key: str = "target_data",
                 topk: Sequence[int] = (1,), num_classes: Optional[int] = None,
                 class_names: Optional[Sequence[str]] = None, per_class: bool = False):
        self.input_key, self.target_key = input_key, target_key
        self.topk = tuple(int(k) for k in topk)
        if not self.topk or min(self.topk) < 1:
            raise ConfigError(f"trainer.evaluator (ClassificationEvaluator): topk must be positive, got {list(topk)}")
        if num_classes is None and class_names is not None:
            num_classes = len(class_names)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.class_names = None if class_names is None else list(class_names)
        if self.num_classes is not None:
            class_names_for(self.num_classes, self.class_names, "ClassificationEvaluator")
        self.per_class = bool(per_class)
        self.reset()

    def reset(self):
        self._correct = [0.0] * len(self.topk)
        self._count = 0.0
        self._matrix: Optional[torch.Tensor] = None  # local counts; its size is known at the first batch
        self._last_matrix: Optional[np.ndarray] = None
        self._samples = SampleOutputs(self)
        self._nonfinite = NonFiniteOutputs("ClassificationEvaluator")

    def process(self, model, batch):
        inputs, targets = batch_fields(batch, {"input_key": self.input_key, "target_key": self.target_key},
                                       "ClassificationEvaluator")
        scores = model.generator(inputs)
        if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
            raise EngineError("ClassificationEvaluator: model.generator(inputs) must return N x C scores, "
                              f"got {describe(scores)}")
        targets = integer_targets(torch.as_tensor(targets), self.target_key).to(scores.device).reshape(-1)
        n, width = scores.shape
        if targets.numel() != n:
            raise EngineError(f"ClassificationEvaluator: {n} score rows but {targets.numel()} targets "
                              f"in '{self.target_key}'")
        if self.num_classes is not None and width != self.num_classes:
            raise EngineError(f"ClassificationEvaluator: the model gives {width} scores per sample, "
                              f"num_classes is {self.num_classes}")
        if n and (targets.min() < 0 or targets.max() >= width):
            raise EngineError(f"ClassificationEvaluator: targets must be in [0, {width}), "
                              f"got {int(targets.min())}..{int(targets.max())}")
        if max(self.topk) > width:
            raise ConfigError(f"trainer.evaluator (ClassificationEvaluator): topk {max(self.topk)} > "
                              f"{width} classes")
        finite = torch.from_numpy(self._nonfinite.add(finite_rows(scores))).to(scores.device)
        best, top = scores.topk(max(self.topk), dim=1)
        top[~finite] = -1  # no class for a row of NaN scores (topk would call it class 0)
        hits = top.eq(targets[:, None])
        for i, k in enumerate(self.topk):
            self._correct[i] += float(hits[:, :k].any(dim=1).sum())
        self._count += n
        matrix = count_confusion(top[finite, 0], targets[finite], width).cpu()
        if self._matrix is None:
            self._matrix = matrix
        elif self._matrix.shape != matrix.shape:
            raise EngineError(f"ClassificationEvaluator: the model gave {len(self._matrix)} and then "
                              f"{width} scores per sample")
        else:
            self._matrix += matrix
        self._samples.extend({"label": int(label), "score": float(score), "target": int(target)}
                             for label, score, target in zip(top[:, 0].tolist(), best[:, 0].tolist(),
                                                             targets.tolist()))

    def _matrix_size(self) -> int:
        """num_classes, else the score width; a process that saw no batch learns it from
        the others."""
        if self.num_classes is not None:
            return self.num_classes
        sizes = comm.all_gather_object(None if self._matrix is None else len(self._matrix))
        return max((s for s in sizes if s is not None), default=0)

    def evaluate(self):
        size = self._matrix_size()
        local = np.zeros((size, size), np.int64) if self._matrix is None else self._matrix.numpy()
        if local.shape != (size, size):
            raise EngineError(f"ClassificationEvaluator: processes saw {len(local)} and {size} classes")
        # one all_reduce for the hit counts and the confusion matrix
        totals = comm.all_reduce_sum(self._correct + [self._count] + local.reshape(-1).tolist())
        k = len(self.topk)
        count = totals[k] or float("nan")  # an empty set has no accuracy
        matrix = self._last_matrix = np.rint(totals[k + 1:]).astype(np.int64).reshape(size, size)
        names = ["accuracy" if t == 1 else f"top{t}_accuracy" for t in self.topk]
        results = {name: totals[i] / count for i, name in enumerate(names)}
        self._samples.gather()
        class_names = class_names_for(size, self.class_names, "ClassificationEvaluator")
        if self.per_class:
            support = matrix.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                recall = np.where(support > 0, np.diag(matrix) / support, np.nan)
            results.update({f"accuracy_class_{name}": float(v) for name, v in zip(class_names, recall)})
            results["mean_class_accuracy"] = float(np.nanmean(recall)) if (support > 0).any() else float("nan")
        if self.output_dir and comm.is_main_process() and size:
            draw_confusion_matrix(matrix, class_names, os.path.join(self.output_dir, "confusion_matrix.png"))
        return self._nonfinite.apply(results)

    def confusion_matrix(self) -> np.ndarray:
        """The last evaluation's confusion matrix over all processes (rows: ground truth,
        columns: top-1 prediction)."""
        if self._last_matrix is None:
            raise EngineError("ClassificationEvaluator.confusion_matrix(): call evaluate() first")
        return self._last_matrix

    def predictions(self):
        return self._samples.result()
