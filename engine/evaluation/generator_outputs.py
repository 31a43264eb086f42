"""Per-sample outputs for any model, whatever its evaluator keeps.

``engine-test --out`` writes one JSON line per sample. The task evaluators keep such
records themselves (``predictions()``: a label and score, a mask, boxes); the default
``LossEvaluator`` and a project's evaluator may keep none. :func:`with_sample_outputs`
then wraps the evaluator: its metrics are unchanged, and each batch is also given to
``model.generator(batch[input_key])``, whose outputs are kept per sample:

- decoded by ``model.postprocess(outputs)`` when the model defines it (the built-in
  bundles do: the evaluators' formats, ``{'label', 'score'}``, ``{'mask'}``,
  ``{'boxes', 'scores', 'labels'}``);
- else raw, as ``{'output': ...}``: row ``i`` of each tensor (of each tensor of a
  tuple/dict), or item ``i`` of a per-sample list;

plus ``target`` when the batch holds one number per sample in ``target_key`` (a class
index), so that accuracy can be measured from the file alone.
"""
from typing import Any, Dict, List

import torch

from ..utils.errors import EngineError
from .evaluator import DatasetEvaluator, SampleOutputs, batch_fields

__all__ = ["with_sample_outputs", "GeneratorOutputs", "split_samples"]


def split_samples(value: Any, n: int, what: str = "model.generator(inputs)") -> List[Any]:
    """``value`` (a batch's outputs) as ``n`` per-sample values."""
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n:
        return list(value.detach().cpu())
    if isinstance(value, dict):
        columns = {k: split_samples(v, n, f"{what}[{k!r}]") for k, v in value.items()}
        return [{k: column[i] for k, column in columns.items()} for i in range(n)]
    if isinstance(value, (list, tuple)):
        if len(value) == n and not all(isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == n
                                       for v in value):
            return list(value)  # one entry per sample (detection's dicts)
        columns = [split_samples(v, n, f"{what}[{i}]") for i, v in enumerate(value)]
        return [type(value)(column[i] for column in columns) if isinstance(value, tuple)
                else [column[i] for column in columns] for i in range(n)]
    raise EngineError(f"--out: cannot split {what} ({type(value).__name__}"
                      f"{list(value.shape) if isinstance(value, torch.Tensor) else ''}) into {n} samples")


def _targets(batch, key: str, n: int):
    """One number per sample in ``batch[key]``, else None."""
    value = batch.get(key) if isinstance(batch, dict) else None
    if isinstance(value, torch.Tensor) and value.numel() == n and value.dim() <= 1:
        return value.reshape(-1).tolist()
    return None


class GeneratorOutputs(DatasetEvaluator):
    """``evaluator``'s metrics, and the generator's outputs of each sample as
    ``predictions()``."""

    def __init__(self, evaluator: DatasetEvaluator, input_key: str = "input_data", target_key: str = "target_data"):
        self.evaluator = evaluator
        self.input_key, self.target_key = input_key, target_key
        self.output_dir = evaluator.output_dir
        self.keep_predictions = True
        self.reset()

    def reset(self) -> None:
        self.evaluator.reset()
        self._samples = SampleOutputs(self)

    def process(self, model, batch) -> None:
        self.evaluator.process(model, batch)
        inputs = batch_fields(batch, {"input_key": self.input_key}, "engine-test --out")[0]
        outputs = model.generator(inputs)
        n = len(inputs)
        postprocess = getattr(model, "postprocess", None)
        if postprocess is not None:
            records = [r if isinstance(r, dict) else {"output": r}
                       for r in split_samples(postprocess(outputs), n, f"{type(model).__name__}.postprocess")]
        else:
            records = [{"output": r} for r in split_samples(outputs, n)]
        targets = _targets(batch, self.target_key, n)
        if targets is not None:
            records = [{**r, "target": t} if "target" not in r else r for r, t in zip(records, targets)]
        self._samples.extend(records)

    def evaluate(self) -> Dict[str, float]:
        results = self.evaluator.evaluate()
        self._samples.gather()
        return results

    def predictions(self):
        return self._samples.result()


def with_sample_outputs(evaluator: DatasetEvaluator) -> DatasetEvaluator:
    """``evaluator`` itself when it keeps per-sample predictions, else wrapped in
    :class:`GeneratorOutputs`."""
    if type(evaluator).predictions is not DatasetEvaluator.predictions:
        return evaluator
    return GeneratorOutputs(evaluator)
