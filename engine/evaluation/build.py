"""The evaluator registry; ``trainer.evaluator.name`` picks one ('' = validation loss)."""
from ..utils.registry import Registry, build_from_cfg

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator"]

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = "Evaluators (DatasetEvaluator subclasses) named by trainer.evaluator.name."


def build_evaluator(node, where: str = "trainer.evaluator"):
    from .. import evaluation  # noqa: F401  (registers the built-in evaluators)

    if not node or not node.get("NAME"):
        return EVALUATOR_REGISTRY.get("LossEvaluator")()
    return build_from_cfg(EVALUATOR_REGISTRY, node, where)
