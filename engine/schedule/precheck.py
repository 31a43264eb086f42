"""Refuse a config that cannot work in the launching process, before any worker starts.

Workers build the trainer (model, data, losses) after they are spawned and have joined
the process group, seconds to minutes in. A mistake found there costs that wait, and is
reported from inside a worker. Everything that can be decided from the config and the
registries alone is therefore checked here first, without building networks or
datasets (nothing is constructed that could allocate memory, read data or start
threads):

* every component name is registered: trainer, model bundle, generator network, a
  GAN's discriminators, datasets (train/val/test) and their transforms, evaluator, hooks;
* each one's parameters fit its constructor (``check_cfg``: the same binding check
  ``build_from_cfg`` makes, with "did you mean" for a misspelt keyword);
* the hooks of ``trainer.hooks`` are built (small objects that check their arguments:
  EarlyStopping's mode and patience, ModelCheckpoint's save_top_k, a class that is no
  HookBase), and no two hooks, built-in ones included, share a checkpoint ``state_key``;
* every solver (the generator's and each discriminator's) builds its optimizer, LR
  schedule and gradient clipper on a one-element dummy parameter (an unknown optimizer,
  a warmup longer than ``max_iter``, a ``clip_value`` <= 0, an unknown schedule key;
  param-group rules are left to the worker: they need the real network's names);
* the EMA options (``trainer.model.ema``: decay_rate in (0, 1), tau > 0, ...) on a
  one-weight dummy network;
* losses written in ``LossKeyCompose`` form (``key -> list of entries``) are built
  (unknown entry keys, unregistered loss names, constructor parameters).

A part the project builds itself is left to the worker: a model overriding
``create_model``/``build_network``, a trainer overriding ``build_dataset``,
``create_dataset`` or ``build_evaluator``.
"""
import logging
from collections.abc import Mapping, Sequence

import torch

from ..data.build import BUILD_DATASET_REGISTRY
from ..evaluation.build import EVALUATOR_REGISTRY
from ..loss.pipe import LossKeyCompose
from ..model.base_model import BaseModel
from ..model.ema import build_ema
from ..model.gan_model import BaseGanModel, discriminator_nodes, discriminator_solver_nodes
from ..model.build import BUILD_MODEL_REGISTRY, BUILD_NETWORK_REGISTRY
from ..solver.clip import GradientClipper
from ..solver.lr_scheduler import build_lr_scheduler
from ..solver.optimizer import build_optimizer
from ..solver.param_groups import GROUP_KEYS
from ..trainer.build import BUILD_TRAINER_REGISTRY
from ..trainer.hooks import BestCheckpoint, build_hooks
from ..trainer.hooks.base import check_state_keys
from ..trainer.state import OWN_KEYS
from ..trainer.trainer import BaseTrainer
from ..transforms.build import build_transforms
from ..utils.registry import check_cfg, lookup

__all__ = ["precheck"]

SPLITS = ("TRAIN_DATA_SET", "VAL_DATA_SET", "TEST_DATA_SET")


def precheck(cfg) -> None:
    """Raise the ConfigError the workers would raise for ``cfg``, found here instead.
    Log lines of the parts built here (an LR warning, a param-group table) are muted:
    the workers build the same parts and log them where they belong, in log.txt."""
    logging.disable(logging.WARNING)
    try:
        _precheck(cfg)
    finally:
        logging.disable(logging.NOTSET)


def _precheck(cfg) -> None:
    from .. import evaluation  # noqa: F401  (registers the built-in evaluators)

    trainer_cls = lookup(BUILD_TRAINER_REGISTRY, cfg.TRAINER.NAME, "trainer.name")
    model_cls = lookup(BUILD_MODEL_REGISTRY, cfg.TRAINER.MODEL.NAME, "trainer.model.name")
    if not _overridden(model_cls, BaseModel, "create_model", "build_network"):
        check_cfg(BUILD_NETWORK_REGISTRY, cfg.TRAINER.MODEL.GENERATOR, "trainer.model.generator")
    if issubclass(model_cls, BaseGanModel) and not _overridden(
            model_cls, BaseGanModel, "create_discriminator", "build_discriminator"):
        nodes = discriminator_nodes(cfg.TRAINER.MODEL.DISCRIMINATOR)
        for name, node in nodes.items():
            where = "trainer.model.discriminator" + (f".{name}" if len(nodes) > 1 else "")
            check_cfg(BUILD_NETWORK_REGISTRY, node, where)
    if not _overridden(trainer_cls, BaseTrainer, "build_dataset", "create_dataset"):
        for key in SPLITS:
            _check_dataset(cfg.DATALOADER.get(key), f"dataloader.{key.lower()}")
    evaluator = cfg.TRAINER.EVALUATOR
    if evaluator.get("NAME") and not _overridden(trainer_cls, BaseTrainer, "build_evaluator"):
        check_cfg(EVALUATOR_REGISTRY, evaluator, "trainer.evaluator")
    _check_hooks(cfg)
    # trainer.enable_epoch_method: max_iter counts epochs, in steps only once the training
    # set is built (engine/compat/seed/trainer_api.py); the worker checks warmup against them
    epochs = bool(cfg.TRAINER.ENABLE_EPOCH_METHOD)
    max_iter = 2**31 if epochs else int(cfg.SOLVER.MAX_ITER)
    _check_solver(cfg.SOLVER.GENERATOR, max_iter, "solver.generator")
    if issubclass(model_cls, BaseGanModel):
        names = list(discriminator_nodes(cfg.TRAINER.MODEL.DISCRIMINATOR))
        for section, where in discriminator_solver_nodes(cfg.SOLVER.DISCRIMINATOR, names).values():
            _check_solver(section, max_iter, where)
    build_ema(torch.nn.Linear(1, 1), cfg.TRAINER.MODEL.EMA)
    if _is_key_compose_form(cfg.TRAINER.MODEL.LOSS):
        LossKeyCompose(cfg.TRAINER.MODEL.LOSS, where="trainer.model.loss")


def _overridden(cls, base, *names) -> bool:
    return any(getattr(cls, n, None) is not getattr(base, n, None) for n in names)


def _check_dataset(node, where: str) -> None:
    if not node or not node.get("NAME"):
        return
    check_cfg(BUILD_DATASET_REGISTRY, node, where)
    pipeline = node.get("TRANSFORMER")
    if pipeline:
        build_transforms(pipeline, f"{where}.transformer")  # small objects, no data read


def _check_hooks(cfg) -> None:
    """Build ``trainer.hooks`` (and model_best's hook when ``solver.best_metric`` is set:
    its state_key is taken) and compare their checkpoint keys."""
    hooks = build_hooks(cfg.TRAINER.HOOKS)
    if cfg.SOLVER.BEST_METRIC:
        hooks.append(BestCheckpoint(cfg.SOLVER.BEST_METRIC, cfg.SOLVER.BEST_MODE))
    check_state_keys(hooks, reserved=OWN_KEYS)


def _check_solver(section, max_iter: int, where: str) -> None:
    """What ``Solver`` builds, on a dummy parameter; the param-group keys are left out
    (their rules must match the real network's parameter names)."""
    node = {k: v for k, v in section.OPTIMIZER.items() if str(k).lower() not in GROUP_KEYS}
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], node, f"{where}.optimizer")
    build_lr_scheduler(optimizer, section.LR_SCHEDULER, max_iter, f"{where}.lr_scheduler")
    GradientClipper.from_optimizer_node(section.OPTIMIZER, f"{where}.optimizer")


def _is_key_compose_form(tree) -> bool:
    """``key -> [entry or (entry, ...), ...]`` with named entries: what LossKeyCompose
    takes. A loss tree of another shape is the project's own business."""
    if not isinstance(tree, Mapping) or not tree:
        return False
    for entries in tree.values():
        if isinstance(entries, (str, Mapping)) or not isinstance(entries, Sequence) or not entries:
            return False
        for entry in entries:
            items = entry if isinstance(entry, (list, tuple)) else [entry]
            if not all(isinstance(e, Mapping) and ("NAME" in e or "name" in e) for e in items):
                return False
    return True
