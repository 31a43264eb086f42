"""The evaluator registry; ``trainer.evaluator.name`` picks one ('' = validation loss)."""
from typing import Optional

from ..utils.registry import Registry, build_from_cfg

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator"]

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = "Evaluators (DatasetEvaluator subclasses) named by trainer.evaluator.name."


def build_evaluator(node, where: str = "trainer.evaluator", output_dir: Optional[str] = None,
                    keep_predictions: bool = False):
    """The evaluator ``node`` names (``NAME`` + constructor arguments); ``output_dir`` and
    ``keep_predictions`` are set on it (see ``DatasetEvaluator``), not passed to it."""
    from .. import evaluation  # noqa: F401  (registers the built-in evaluators)

    if not node or not node.get("NAME"):
        evaluator = EVALUATOR_REGISTRY.get("LossEvaluator")()
    else:
        evaluator = build_from_cfg(EVALUATOR_REGISTRY, node, where)
    evaluator.output_dir = None if output_dir is None else str(output_dir)
    evaluator.keep_predictions = bool(keep_predictions)
    return evaluator
