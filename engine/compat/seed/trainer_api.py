"""The seed's (TrainFramework's) trainer contract, on top of our loop.

A seed project overrides these on its ``BaseTrainer`` subclass and reads these
attributes; each is a thin layer over our own mechanism:

    before_loop() / iterate_before(epoch) / after_loop()
    iterate_after(epoch) or iterate_after(epoch, loss_dict)
                             called by the SeedMethods hook (below)
    loop()                   the training loop; the scheduler calls it; default: train()
    create_model(cfg)        the model bundle; default: build_model(cfg)
    set_collate_fn(cfg)      sets collate_train_fn / collate_valid_fn (None: default)
    create_dataset(cfg)      (train, val) or (train, val, test)
    create_dataloader(cfg, train, val[, test]) / create_iterable_dataloader(...)
                             loaders over any datasets, for the project's own use: the
                             wheel's form returns (train, test), HEAD's (train, val, test)
    checkpoint.check_period, test_data_loader, val_data_loader, train_data_loader,
    output, default_log_name, model_path, enable_epoch_method, gradient_accumulation_batch,
    train_batch_size

``epoch``, as the seed's methods and ``run_step(epoch=)`` receive it, is the seed's loop
counter: the **iteration index** (0-based), or with ``trainer.enable_epoch_method`` the
epoch, and then ``iterate_after`` runs once per epoch, after its last step, as the
seed's loop calls it. ``trainer.enable_epoch_method`` makes ``solver.max_iter``,
``solver.checkpoint_period`` and ``solver.eval_period`` count epochs:
:func:`epochs_as_iterations` turns them into optimizer steps once, from the training
set's size, and everything else (the LR schedule, resume, hooks) keeps counting steps,
so exact resume mid-epoch holds as for any run. See doc/seed.md.
"""
import inspect
import logging
import math
from types import SimpleNamespace
from typing import Optional, Tuple

from ...trainer.hooks.base import HookBase, Priority
from ...utils.errors import ConfigError, EngineError

__all__ = ["SeedTrainerAPI", "SeedMethods", "epochs_as_iterations", "steps_per_epoch"]

logger = logging.getLogger("engine.trainer")


class SeedTrainerAPI:
    """BaseTrainer's seed-named methods and attributes (see the module docstring)."""

    collate_train_fn = None  # the training loader's collate function (set_collate_fn)
    collate_valid_fn = None  # the validation / test loaders'
    train_data_loader = None  # the training DataLoader, once train() built it
    epoch_steps: Optional[int] = None  # optimizer steps per epoch with enable_epoch_method

    def before_loop(self):
        """Called once before the first iteration (also after a resume)."""

    def after_loop(self):
        """Called once after the last iteration, final evaluation and checkpoint."""

    def iterate_before(self, epoch):
        """Called before each iteration."""

    def iterate_after(self, epoch, loss_dict=None):
        """Called after each optimizer step (once per epoch with enable_epoch_method)
        with the loop counter and, when the override takes it, the step's losses."""

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

    def create_dataloader(self, cfg, train_dataset, valid_dataset, *test_dataset):
        """The seed's loaders over the given datasets: the training one shuffled, one
        epoch per ``iter()``; the others in order, ``solver.test_per_batch``. Called as the
        released seed (engine_frame 3.0) calls it, ``(cfg, train, valid)``, it returns
        ``(train_loader, test_loader)`` with the test loader over ``valid``; as HEAD does,
        with a test set too, ``(train_loader, val_loader, test_loader)``. The run's own
        loaders are the engine's (sharded, resumable); an override is not called for them."""
        return self._seed_loaders(cfg, train_dataset, valid_dataset, test_dataset, endless=False)

    def create_iterable_dataloader(self, cfg, train_dataset, valid_dataset, *test_dataset):
        """As :meth:`create_dataloader`, the training loader endless (one ``iter()`` for
        the whole run, as the seed's iteration-based loop used it)."""
        return self._seed_loaders(cfg, train_dataset, valid_dataset, test_dataset, endless=True)

    def _seed_loaders(self, cfg, train_dataset, valid_dataset, test_dataset, endless: bool):
        from .data_loader import create_data_loader, create_iterable_data_loader

        if len(test_dataset) > 1:
            raise TypeError(f"{type(self).__name__}.create_dataloader takes (cfg, train, valid[, test])")
        workers, pin = int(cfg.DATALOADER.NUM_WORKERS), self.device.type == "cuda"
        build = create_iterable_data_loader if endless else create_data_loader
        train = build(train_dataset, self.train_batch_size, workers, collate_fn=self.collate_train_fn,
                      pin_memory=pin)
        evaluated = [valid_dataset] + list(test_dataset)
        loaders = [None if ds is None else self._in_order(ds, cfg) for ds in evaluated]
        return (train, *loaders)

    def _in_order(self, dataset, cfg):
        from ...data.build import build_val_loader

        return build_val_loader(dataset, cfg, device=self.device, rank=0, world_size=1,
                                collate_fn=self.collate_valid_fn, where="create_dataloader")

    @property
    def gradient_accumulation_batch(self) -> int:
        return int(self.cfg.SOLVER.GRADIENT_ACCUMULATION_BATCH)

    @property
    def train_batch_size(self) -> int:
        """Samples per forward pass: ``solver.train_per_batch`` split over the
        accumulated micro-batches, as the seed computes it."""
        batch, accumulation = int(self.cfg.SOLVER.TRAIN_PER_BATCH), self.gradient_accumulation_batch
        return batch // accumulation if accumulation > 1 else batch

    def _create_datasets(self, cfg) -> Tuple[object, Optional[object], Optional[object]]:
        made = self.create_dataset(cfg)
        if not isinstance(made, (tuple, list)) or len(made) not in (2, 3):
            raise EngineError(f"{type(self).__name__}.create_dataset must return (train, val) or "
                              f"(train, val, test), got {type(made).__name__}"
                              + (f" of {len(made)}" if isinstance(made, (tuple, list)) else ""))
        return tuple(made) + (None,) * (3 - len(made))

    # ------------------------------------------------------------ the seed's attributes
    @property
    def loop_epoch(self) -> int:
        """The ``epoch`` the seed's methods and ``run_step`` receive (module docstring)."""
        if self.epoch_steps:
            return self.iter // self.epoch_steps
        return self.iter

    @property
    def checkpoint(self):
        """The seed's ``CheckPointerManager`` settings a project reads
        (``self.checkpoint.check_period``: in epochs with enable_epoch_method, as written)."""
        cfg, per_epoch = self.cfg, self.epoch_steps or 1
        return SimpleNamespace(check_period=max(1, int(cfg.SOLVER.CHECKPOINT_PERIOD) // per_epoch),
                               max_iter=int(cfg.SOLVER.MAX_ITER) // per_epoch, max_keep=int(cfg.SOLVER.MAX_KEEP),
                               save_dir=cfg.OUTPUT_DIR, save_to_disk=self.rank == 0)

    @property
    def output(self) -> str:
        return self.cfg.OUTPUT_DIR

    @property
    def default_log_name(self) -> str:
        return self.cfg.OUTPUT_LOG_NAME

    @property
    def model_path(self) -> str:
        return self.cfg.TRAINER.WEIGHTS

    @property
    def device(self):
        return self.model.device

    @property
    def enable_epoch_method(self) -> bool:
        return self.epoch_steps is not None

    @property
    def val_data_loader(self):
        """The whole validation set on every process, in order (the seed's loaders are
        not sharded); the project's own dataset object is its ``.dataset``."""
        return self._seed_loader("val")

    @property
    def test_data_loader(self):
        """The test set's loader, or the validation set's when there is no test set."""
        return self._seed_loader("test" if self.test_set is not None else "val")

    def _seed_loader(self, split: str):
        from ...data.build import build_val_loader

        dataset = self.test_set if split == "test" else self.val_set
        if dataset is None:
            return None
        key = "seed_" + split
        if key not in self._eval_loaders:
            self._eval_loaders[key] = build_val_loader(
                dataset, self.cfg, device=self.model.device, rank=0, world_size=1,
                collate_fn=self.collate_valid_fn, where=f"dataloader.{split}_data_set")
        return self._eval_loaders[key]


class SeedMethods(HookBase):
    """Calls the seed's trainer methods, so a ``BaseTrainer`` subclass that overrides
    them keeps working: ``before_loop()``, ``iterate_before(epoch)``,
    ``iterate_after(epoch[, loss_dict])`` (not for a skipped step; once per epoch with
    enable_epoch_method) and ``after_loop()`` (only when training finished, not after an
    error or a stop signal)."""

    priority = Priority.SEED_METHODS

    def __init__(self):
        self.with_losses = True  # iterate_after takes (epoch, loss_dict); checked at before_train

    def before_train(self) -> None:
        after = inspect.signature(self.trainer.iterate_after).parameters
        self.with_losses = len(after) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in after.values())
        warn_unused_overrides(self.trainer)
        self.trainer.before_loop()

    def before_step(self) -> None:
        method = self.trainer.iterate_before
        if not _is_default(method, "iterate_before"):
            method(self.trainer.loop_epoch)

    def after_step(self) -> None:
        trainer = self.trainer
        result = trainer.step_result
        if result.skipped or (trainer.epoch_steps and (trainer.iter + 1) % trainer.epoch_steps):
            return
        if _is_default(trainer.iterate_after, "iterate_after"):
            return  # SeedTrainerAPI's empty method: no loss dict to build for it
        if self.with_losses:
            trainer.iterate_after(trainer.loop_epoch, result.floats())
        else:
            trainer.iterate_after(trainer.loop_epoch)

    def after_train(self) -> None:
        if self.trainer.finished:
            self.trainer.after_loop()


#: SeedTrainerAPI's own empty step methods, as defined (a function later set on the class
#: is the user's, and is called)
_EMPTY = {name: SeedTrainerAPI.__dict__[name] for name in ("iterate_before", "iterate_after")}


def _is_default(method, name: str) -> bool:
    """Whether ``method`` (looked up on the trainer each step, so a method replaced on the
    instance counts) is SeedTrainerAPI's own empty ``name``: nothing to call then."""
    return getattr(method, "__func__", None) is _EMPTY[name]


#: seed methods the seed's own loop called and ours does not: (owner, names, what instead)
_UNCALLED = (
    ("trainer", ("create_dataloader", "create_iterable_dataloader"),
     "the run's loaders are the engine's (sharded, resumable); set_collate_fn and create_dataset are used"),
    ("model", ("enable_distribute", "enable_distribute_ddp", "enable_dirstribute_ddp", "enable_distribute_dp"),
     "the engine wraps the networks for DDP itself (its options: trainer.ddp.find_unused_parameters, doc/distributed.md)"),
)


def warn_unused_overrides(trainer) -> None:
    """One warning per seed method a project overrides that the engine's loop never
    calls, so a changed sampler or DDP option does not go silently unused."""
    from ...model.base_model import BaseModel
    from ...trainer.trainer import BaseTrainer

    for owner, names, instead in _UNCALLED:
        obj, base = (trainer, BaseTrainer) if owner == "trainer" else (trainer.model, BaseModel)
        cls = obj.__class__  # the class itself also through the hooks' weakref.proxy
        mine = [n for n in names if getattr(cls, n, None) is not getattr(base, n, None)]
        if mine:
            logger.warning("%s overrides %s, which the engine does not call: %s",
                           cls.__name__, ", ".join(mine), instead)


def steps_per_epoch(dataset_size: int, global_batch: int) -> int:
    """Optimizer steps of one epoch: ``ceil(dataset_size / global_batch)`` (the seed's
    loader keeps the last, smaller batch; ours streams on into the next epoch)."""
    return max(1, math.ceil(dataset_size / global_batch))


def epochs_as_iterations(cfg, train_set, world_size: int) -> Tuple[object, Optional[int]]:
    """``(cfg, None)`` without ``trainer.enable_epoch_method``; with it, a copy whose
    ``solver.max_iter`` / ``checkpoint_period`` / ``eval_period`` are the given epochs
    in optimizer steps, and the switch off (the copy means what it says; the config
    the user wrote, in config.yaml, keeps counting epochs), and the steps per epoch."""
    if not cfg.TRAINER.ENABLE_EPOCH_METHOD:
        return cfg, None
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
    return steps, per_epoch
