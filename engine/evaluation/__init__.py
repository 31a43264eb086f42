"""Evaluation: the evaluator protocol, the built-in evaluators, the evaluation loop."""
from .build import EVALUATOR_REGISTRY, build_evaluator
from .evaluator import DatasetEvaluator, SampleOutputs, gather_samples, run_evaluation
from . import classification, detection, loss_evaluator, retrieval, segmentation  # noqa: F401  (registration)

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "DatasetEvaluator", "SampleOutputs", "gather_samples",
           "run_evaluation"]
