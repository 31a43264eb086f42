"""The seed's (TrainFramework's) trainer extension points, kept under its names.

A seed project overrides these on its ``BaseTrainer`` subclass; each is a thin layer
over our own mechanism, so the two spellings cannot drift apart:

    before_loop / iterate_before(epoch) / iterate_after(epoch, loss_dict) / after_loop
                             called by the SeedMethods hook (hooks/builtin.py)
    loop()                   the training loop; the scheduler calls it; default: train()
    create_model(cfg)        the model bundle; default: build_model(cfg)
    set_collate_fn(cfg)      sets collate_train_fn / collate_valid_fn (None: default)
    create_dataset(cfg)      (train, val) or (train, val, test); default: build_dataset
                             for dataloader.train_data_set / val_data_set / test_data_set

``trainer.enable_epoch_method`` (the seed's switch for iterating by epochs) makes
``solver.max_iter``, ``solver.checkpoint_period`` and ``solver.eval_period`` count
epochs: :func:`epochs_as_iterations` turns them into optimizer steps once, from the
training set's size, and everything else (the LR schedule, resume, hooks) keeps
counting steps, so exact resume mid-epoch holds as for any run. See doc/trainer.md.
"""
import logging
import math
from typing import Optional, Tuple

from ..utils.errors import ConfigError, EngineError

__all__ = ["SeedTrainerAPI", "epochs_as_iterations", "steps_per_epoch"]

logger = logging.getLogger("engine.trainer")


class SeedTrainerAPI:
    """BaseTrainer's seed-named methods (mixed into it; see the module docstring)."""

    collate_train_fn = None  # the training loader's collate function (set_collate_fn)
    collate_valid_fn = None  # the validation / test loaders'

    def before_loop(self):
        """Called once before the first iteration (also after a resume)."""

    def after_loop(self):
        """Called once after the last iteration, final evaluation and checkpoint."""

    def iterate_before(self, epoch):
        """Called before each iteration."""

    def iterate_after(self, epoch, loss_dict):
        """Called after each optimizer step with that step's losses (python floats)."""

    def loop(self) -> None:
        """The seed's name of the training loop. The scheduler calls ``loop()``; the
        default runs :meth:`train`, so an override calling ``super().loop()`` wraps the
        whole run, and a seed-style ``lunch_func`` ending in ``trainer.loop()`` trains."""
        self.train()

    def create_model(self, cfg):
        """The seed's name of :meth:`build_model` (``BaseTrainer.__init__`` calls this)."""
        return self.build_model(cfg)

    def set_collate_fn(self, cfg) -> None:
        """Set ``self.collate_train_fn`` / ``self.collate_valid_fn`` (a callable: list of
        samples -> batch) for the training and the validation/test loaders; detection
        batches with a varying number of boxes need one. Called before
        :meth:`create_dataset`. Left None: the dataset's ``collate_fn`` attribute, else
        torch's ``default_collate``."""

    def create_dataset(self, cfg) -> Tuple:
        """``(train, val, test)`` (the seed returns ``(train, val)``; both forms are
        accepted); ``None`` for a split turns it off."""
        return tuple(self.build_dataset(cfg, split) for split in ("train", "val", "test"))

    def _create_datasets(self, cfg) -> Tuple[object, Optional[object], Optional[object]]:
        made = self.create_dataset(cfg)
        if not isinstance(made, (tuple, list)) or len(made) not in (2, 3):
            raise EngineError(f"{type(self).__name__}.create_dataset must return (train, val) or "
                              f"(train, val, test), got {type(made).__name__}"
                              + (f" of {len(made)}" if isinstance(made, (tuple, list)) else ""))
        return tuple(made) + (None,) * (3 - len(made))


def steps_per_epoch(dataset_size: int, global_batch: int) -> int:
    """Optimizer steps of one epoch: ``ceil(dataset_size / global_batch)`` (the seed's
    loader keeps the last, smaller batch; ours streams on into the next epoch)."""
    return max(1, math.ceil(dataset_size / global_batch))


def epochs_as_iterations(cfg, train_set, world_size: int):
    """``cfg`` itself without ``trainer.enable_epoch_method``; with it, a copy whose
    ``solver.max_iter`` / ``checkpoint_period`` / ``eval_period`` are the given epochs
    in optimizer steps, and the switch off (the copy means what it says; the config
    the user wrote, in config.yaml, keeps counting epochs)."""
    if not cfg.TRAINER.get("ENABLE_EPOCH_METHOD", False):
        return cfg
    if train_set is None or len(train_set) == 0:
        raise ConfigError("trainer.enable_epoch_method needs a non-empty training dataset "
                          "(dataloader.train_data_set) to count its epochs")
    per_epoch = steps_per_epoch(len(train_set), int(cfg.SOLVER.TRAIN_PER_BATCH) * world_size)
    steps, frozen = cfg.clone(), cfg.is_frozen()
    steps.defrost()
    for key in ("MAX_ITER", "CHECKPOINT_PERIOD", "EVAL_PERIOD"):
        steps.SOLVER[key] = int(cfg.SOLVER[key]) * per_epoch
    steps.TRAINER.ENABLE_EPOCH_METHOD = False
    if frozen:
        steps.freeze()
    logger.info("trainer.enable_epoch_method: %d epoch(s) of %d step(s) = solver.max_iter %d; checkpoint "
                "every %d, evaluation every %d step(s)", int(cfg.SOLVER.MAX_ITER), per_epoch,
                steps.SOLVER.MAX_ITER, steps.SOLVER.CHECKPOINT_PERIOD, steps.SOLVER.EVAL_PERIOD)
    return steps
