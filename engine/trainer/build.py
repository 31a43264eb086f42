"""The trainer registry: ``trainer.name`` picks the BaseTrainer subclass to run."""
from ..utils.errors import ConfigError
from ..utils.registry import Registry

__all__ = ["BUILD_TRAINER_REGISTRY", "build_trainer"]

BUILD_TRAINER_REGISTRY = Registry("BUILD_TRAINER")
BUILD_TRAINER_REGISTRY.__doc__ = "Trainers (BaseTrainer subclasses) named by trainer.name."


def build_trainer(cfg):
    from . import trainer  # noqa: F401  (registers BaseTrainer)

    try:
        trainer_cls = BUILD_TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    except ConfigError as e:
        raise ConfigError(f"trainer.name: {e}") from None
    return trainer_cls(cfg)
