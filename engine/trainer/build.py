"""The trainer registry: ``trainer.name`` picks the BaseTrainer subclass to run."""
from ..utils.registry import Registry, lookup

__all__ = ["BUILD_TRAINER_REGISTRY", "build_trainer"]

BUILD_TRAINER_REGISTRY = Registry("BUILD_TRAINER")
BUILD_TRAINER_REGISTRY.__doc__ = "Trainers (BaseTrainer subclasses) named by trainer.name."


def build_trainer(cfg):
    from . import trainer  # noqa: F401  (registers BaseTrainer)

    trainer_cls = lookup(BUILD_TRAINER_REGISTRY, cfg.TRAINER.NAME, "trainer.name")
    return trainer_cls(cfg)
