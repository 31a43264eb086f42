"""Issue 25 (reliability, round 3), the evaluators: a non-finite output is never scored
(a warning naming the evaluator and the count, every metric NaN), an empty
classification set has no accuracy, fractional class targets are refused, and NaN
metrics never become model_best."""
import logging
import math

import numpy as np
import pytest
import torch

from engine.evaluation import build_evaluator
from engine.trainer.best import BestTracker
from engine.utils.errors import EngineError

from test_evaluators import evaluate  # an evaluator run over batches whose input is the model's output

NAN = float("nan")


class Losses:
    """A model whose run_step returns the batch's input as its loss."""

    def run_step(self, batch):
        return {"loss": batch["input_data"]}


def assert_flagged(caplog, results, evaluator_name, count, total):
    assert results and all(math.isnan(v) for v in results.values()), results
    assert f"{evaluator_name}: {count} of {total} samples have non-finite outputs" in caplog.text


def test_classification_nan_row_is_not_class_0(caplog):
    scores = torch.tensor([[NAN, NAN, NAN], [0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    with caplog.at_level(logging.WARNING):
        evaluator, results = evaluate({"NAME": "ClassificationEvaluator", "PER_CLASS": True},
                                      [{"input_data": scores, "target_data": torch.tensor([0, 1, 0])}],
                                      keep_predictions=True)
    assert_flagged(caplog, results, "ClassificationEvaluator", 1, 3)
    first = evaluator.predictions()[0]
    assert first["label"] == -1 and math.isnan(first["score"])
    assert evaluator.confusion_matrix().sum() == 2  # the NaN row is counted in no cell


def test_classification_inf_scores_are_flagged_too(caplog):
    with caplog.at_level(logging.WARNING):
        _, results = evaluate({"NAME": "ClassificationEvaluator"},
                              [{"input_data": torch.tensor([[float("inf"), 0.0]]), "target_data": torch.tensor([0])}])
    assert_flagged(caplog, results, "ClassificationEvaluator", 1, 1)


def test_segmentation_all_nan_logits_give_nan_not_a_pixel_accuracy(caplog):
    target = torch.zeros(2, 4, 4, dtype=torch.long)  # class 0 everywhere: argmax of NaN would score 1.0
    with caplog.at_level(logging.WARNING):
        _, results = evaluate({"NAME": "SegmentationEvaluator", "NUM_CLASSES": 3},
                              [{"input_data": torch.full((2, 3, 4, 4), NAN), "target_data": target}])
    assert_flagged(caplog, results, "SegmentationEvaluator", 2, 2)


def det_batch(boxes, scores):
    return {"input_data": [dict(boxes=np.array(boxes, float).reshape(-1, 4), scores=np.array(scores, float),
                                labels=np.zeros(len(scores), int))],
            "bbox": [np.array([[0, 0, 8, 8]], float)], "labels": [np.array([0])]}


def test_detection_nan_boxes_are_not_scored(caplog):
    good = det_batch([[0, 0, 8, 8]], [0.9])
    _, real = evaluate({"NAME": "DetectionEvaluator", "NUM_CLASSES": 1}, [good])
    assert real["mAP"] == pytest.approx(1.0)
    with caplog.at_level(logging.WARNING):
        _, results = evaluate({"NAME": "DetectionEvaluator", "NUM_CLASSES": 1},
                              [good, det_batch([[NAN, NAN, NAN, NAN]], [0.9]), det_batch([[0, 0, 8, 8]], [NAN])])
    assert_flagged(caplog, results, "DetectionEvaluator", 2, 3)


def test_retrieval_nan_embeddings_are_flagged(caplog):
    embeddings = torch.tensor([[1.0, 0.0], [NAN, 0.1], [0.0, 1.0], [0.1, 0.9]])
    with caplog.at_level(logging.WARNING):
        _, results = evaluate({"NAME": "RetrievalEvaluator"},
                              [{"input_data": embeddings, "target_data": torch.tensor([0, 0, 1, 1])}])
    assert_flagged(caplog, results, "RetrievalEvaluator", 1, 4)


def test_validation_loss_that_is_not_finite_is_flagged(caplog):
    evaluator = build_evaluator("")
    with caplog.at_level(logging.WARNING):
        for loss in (1.0, float("inf")):
            evaluator.process(Losses(), {"input_data": torch.tensor(loss)})
        results = evaluator.evaluate()
    assert_flagged(caplog, results, "LossEvaluator", 1, 2)


def test_finite_outputs_give_no_warning(caplog):
    with caplog.at_level(logging.WARNING):
        _, results = evaluate({"NAME": "ClassificationEvaluator"},
                              [{"input_data": torch.eye(3), "target_data": torch.tensor([0, 1, 1])}])
    assert results["accuracy"] == pytest.approx(2 / 3) and "non-finite" not in caplog.text


def test_nan_metric_never_becomes_model_best():
    best = BestTracker("accuracy", "max")
    assert best.update({"accuracy": 0.2}, 10)
    assert not best.update({"accuracy": NAN}, 20)
    assert best.value == 0.2 and best.iteration == 10


def test_classification_on_an_empty_set_is_nan_not_zero():
    _, results = evaluate({"NAME": "ClassificationEvaluator", "TOPK": [1, 2], "NUM_CLASSES": 3}, [])
    assert set(results) == {"accuracy", "top2_accuracy"} and all(math.isnan(v) for v in results.values())


def test_classification_refuses_fractional_targets_and_takes_whole_floats():
    scores = torch.eye(3)
    with pytest.raises(EngineError, match=r"targets in 'target_data' must be class indices, got 1\.5"):
        evaluate({"NAME": "ClassificationEvaluator"},
                 [{"input_data": scores, "target_data": torch.tensor([0, 1.5, 2])}])
    _, results = evaluate({"NAME": "ClassificationEvaluator"},
                          [{"input_data": scores, "target_data": torch.tensor([0.0, 1.0, 2.0])}])
    assert results["accuracy"] == 1.0
