"""Evaluation: the evaluator protocol, the built-in evaluators, the evaluation loop."""
from .build import EVALUATOR_REGISTRY, build_evaluator
from .evaluator import DatasetEvaluator, run_evaluation
from . import classification, loss_evaluator  # noqa: F401  (registration)

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "DatasetEvaluator", "run_evaluation"]
