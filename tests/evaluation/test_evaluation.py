"""Built-in evaluators: what they compute, on hand-made batches."""
import pytest
import torch

from engine.evaluation.build import build_evaluator
from engine.utils.errors import EngineError


class FixedLossModel:
    """run_step returns the mean of the batch's 'x' values as its loss."""

    def run_step(self, batch):
        return {"l": batch["x"].float().mean()}


class FixedScoresModel:
    def generator(self, inputs):
        return inputs  # the batch's 'input_data' already holds the scores


def test_loss_evaluator_averages_per_sample_not_per_batch():
    evaluator = build_evaluator({})
    evaluator.reset()
    evaluator.process(FixedLossModel(), {"x": torch.tensor([1.0, 1.0, 1.0])})
    evaluator.process(FixedLossModel(), {"x": torch.tensor([5.0])})
    assert evaluator.evaluate() == {"val_l": pytest.approx((1 + 1 + 1 + 5) / 4)}


def test_classification_evaluator_top1_and_top2():
    evaluator = build_evaluator({"NAME": "ClassificationEvaluator", "TOPK": [1, 2]})
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    targets = torch.tensor([0, 2, 2, 1])
    evaluator.process(FixedScoresModel(), {"input_data": scores, "target_data": targets})
    assert evaluator.evaluate() == {"accuracy": 0.5, "top2_accuracy": 1.0}


def test_classification_evaluator_names_missing_batch_keys():
    evaluator = build_evaluator({"NAME": "ClassificationEvaluator"})
    with pytest.raises(EngineError, match="input_key/target_key"):
        evaluator.process(FixedScoresModel(), {"image": torch.zeros(1, 3)})
