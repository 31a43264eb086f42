"""GAN bundles: one generator and any number of named discriminators, each with its own
optimizer, LR schedule and gradient clipping.

A subclass implements ``dmodel_step(data, *, epoch)`` (the discriminators' losses),
``gmodel_step(data, *, epoch)`` (the generator's losses) and ``generator(data)``
(inference). Each iteration runs, on the same ``k`` micro-batches:

    D phase: zero D grads -> for each micro-batch: dmodel_step, backward -> before_step
             -> step every discriminator's solver
    G phase (every g_step-th iteration): zero G grads -> for each micro-batch:
             gmodel_step, backward -> before_step -> step the generator's solver -> EMA step

While a phase runs, only its networks track gradients: the other networks' trained
parameters have ``requires_grad=False`` (so the D phase builds no graph through the
generator, and the G phase computes no discriminator gradients, without any ``detach``)
and their attributes hold the unwrapped networks (a DDP wrapper only runs the forward
of the network it will all-reduce). Every schedule advances once per iteration (G's too
when G does not train), so schedules are written in iterations.

The gate (``before_step``, the step contract of step.py: the trainer's non-finite
guard) sees each phase once, ``before_backward`` and then ``decide`` with that phase's
losses; a skip in the D phase skips the G step of the iteration too.
"""
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Dict, List, Optional, Sequence

import torch

from ..compat.seed.gan_api import SeedGanAPI
from ..config.defaults import get_default_cfg
from ..config.loader import merge_checked
from ..solver.solver import Solver
from ..utils.errors import ConfigError, EngineError
from ..utils.tree import lower_keys, upper_keys
from .base_model import BaseModel, BeforeStep, LossOutput, as_loss_dict
from .step import OVERFLOW, SKIPPED, STEPPED, StepResult, as_gate

__all__ = ["BaseGanModel", "discriminator_nodes", "discriminator_solver_nodes"]

SINGLE_NAME = "d"            # the name of a discriminator given as dict(name=...)
SOLVER_KEYS = ("optimizer", "lr_scheduler")


class BaseGanModel(SeedGanAPI, BaseModel):
    def __init__(self, cfg):
        super().__init__(cfg)  # generator, its solver, EMA, AMP scaler
        self.g_step = cfg.TRAINER.MODEL.G_STEP
        if isinstance(self.g_step, bool) or not isinstance(self.g_step, int) or self.g_step < 1:
            raise ConfigError(f"trainer.model.g_step must be an integer >= 1, got {self.g_step!r}")
        nodes = discriminator_nodes(cfg.TRAINER.MODEL.DISCRIMINATOR)
        solver_nodes = discriminator_solver_nodes(cfg.SOLVER.DISCRIMINATOR, list(nodes))
        self.d_models: "OrderedDict[str, torch.nn.Module]" = OrderedDict()
        self.d_solvers: "OrderedDict[str, Solver]" = OrderedDict()
        for name, node in nodes.items():
            where = "trainer.model.discriminator" + (f".{name}" if len(nodes) > 1 else "")
            self.d_models[name] = self.build_discriminator(name, node, where)
            section, solver_where = solver_nodes[name]
            self.d_solvers[name] = Solver(self.d_models[name], section, self.max_iter,
                                          solver_where, scaler=self.scaler)
            self.register_network(f"d_models.{name}", self.d_models[name])
            self.register_solver(f"d_solvers.{name}", self.d_solvers[name])
        self._d_names = [f"d_models.{n}" for n in self.d_models]  # as registered
        self.gan_iteration = 0  # iterations trained (decides when G trains)
        self.register_state("gan_state", _Counter(self))

    # ----------------------------------------------------------------- to override
    def create_discriminator(self, name: str, params) -> Optional[torch.nn.Module]:
        """Build discriminator ``name`` yourself; None uses the registry
        (``params`` is its ``trainer.model.discriminator`` node)."""
        return None

    def dmodel_step(self, data, *, epoch=None) -> LossOutput:
        """The discriminators' losses on a (micro-)batch. ``self.g_model`` is the
        generator, not tracking gradients here."""
        raise NotImplementedError(f"{type(self).__name__} must implement dmodel_step()")

    def gmodel_step(self, data, *, epoch=None) -> LossOutput:
        """The generator's losses on a (micro-)batch. The discriminators are in
        ``self.d_models`` (``self.d_model`` when there is one), not tracking gradients."""
        raise NotImplementedError(f"{type(self).__name__} must implement gmodel_step()")

    def run_step(self, data, *, epoch=None, **kwargs) -> LossOutput:
        """Validation losses (the LossEvaluator): the D and the G losses together."""
        d = self._losses(self.dmodel_step(data, epoch=epoch), "dmodel_step", "d_loss")
        g = self._losses(self.gmodel_step(data, epoch=epoch), "gmodel_step", "g_loss")
        return _merge(d, g, type(self).__name__)

    # ----------------------------------------------------------------- building
    def build_discriminator(self, name: str, node, where: str) -> torch.nn.Module:
        return self.checked_network(self.create_discriminator(name, node), node, where)

    @property
    def d_model(self) -> torch.nn.Module:
        """The discriminator, when there is exactly one."""
        if len(self.d_models) != 1:
            raise AttributeError(f"{type(self).__name__} has {len(self.d_models)} discriminators "
                                 f"{list(self.d_models)}: use self.d_models[name]")
        return next(iter(self.d_models.values()))

    def log_values(self) -> Dict[str, float]:
        values = {f"lr_{name}": solver.step_lr for name, solver in self.d_solvers.items()}
        values.update(super().log_values())
        return values

    # ----------------------------------------------------------------- training
    def train_iteration(self, micro_batches: Sequence[Any], *, epoch: int = None,
                        before_step: BeforeStep = None) -> StepResult:
        """The D step, then the G step when due (module docstring); returns the mean
        (detached) loss terms of both with the iteration's outcome."""
        if not all(net.training for net in self.networks):
            self.train()
        self.gan_iteration += 1
        gate = as_gate(before_step)
        d_names, d_solvers = self._d_names, list(self.d_solvers.values())
        for solver in self._solvers.values():
            solver.zero_grad()
        with self._training(d_names, d_solvers):
            totals = self.forward_backward(self.dmodel_step, micro_batches, epoch=epoch,
                                           sync=d_names, single="d_loss", gate=gate)
        outcome = self.step_solvers(d_solvers, totals, gate)
        for solver in d_solvers:
            solver.zero_grad()  # stale D gradients must not reach the guard's G-step check

        if self.gan_iteration % self.g_step:
            self.g_solver.step_schedule()  # G rests; its schedule follows the iterations
        elif outcome.status == SKIPPED:
            self.g_solver.skip()
        else:  # G's gradients were zeroed above and it tracked none in the D phase
            with self._training(["g_model"], [self.g_solver]):
                g_losses = self.forward_backward(self.gmodel_step, micro_batches, epoch=epoch,
                                                 sync=["g_model"], single="g_loss", gate=gate)
            totals = _merge(totals, g_losses, type(self).__name__)
            g_outcome = self.step_solvers([self.g_solver], g_losses, gate)
            if g_outcome.status == STEPPED and self.g_ema is not None:
                self.g_ema.step(self.unwrapped("g_model"))
            outcome = outcome.merged(g_outcome)
        self.last_step_skipped = outcome.status == OVERFLOW
        self.end_iteration()
        return StepResult(totals, outcome)

    @contextmanager
    def _training(self, names: List[str], solvers: List[Solver]):
        """Only ``names`` (trained by ``solvers``) track gradients and stay wrapped."""
        others = [s for s in self._solvers.values() if all(s is not t for t in solvers)]
        for solver in others:
            solver.requires_grad_(False)
        try:
            with self.unwrapped_networks(keep=names):
                yield
        finally:
            for solver in others:
                solver.requires_grad_(True)

    def _losses(self, output: LossOutput, method: str, single: str) -> Dict[str, torch.Tensor]:
        return as_loss_dict(output, type(self).__name__, method, single)


class _Counter:
    """The GAN's iteration count as checkpointed state (decides when G trains)."""

    def __init__(self, model: BaseGanModel):
        self._model = model

    def state_dict(self) -> Dict[str, int]:
        return {"iteration": self._model.gan_iteration}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self._model.gan_iteration = int(state["iteration"])


def _merge(d: Dict[str, torch.Tensor], g: Dict[str, torch.Tensor], owner: str) -> Dict[str, torch.Tensor]:
    clash = sorted(set(d) & set(g))
    if clash:
        raise EngineError(f"{owner}: dmodel_step and gmodel_step both return the loss term(s) "
                          f"{clash}; give the discriminator's and the generator's terms distinct "
                          f"names (e.g. 'd_adv' and 'g_adv')")
    return {**d, **g}


def discriminator_nodes(node, where: str = "trainer.model.discriminator") -> "OrderedDict[str, Any]":
    """``{name: network node}`` from ``trainer.model.discriminator``: ``dict(name=...)``
    is one discriminator named 'd'; ``dict(a=dict(name=...), b=...)`` names several."""
    if not node:
        raise ConfigError(f"{where} is not set: a GAN model needs at least one discriminator, "
                          f"e.g. {where.split('.')[-1]}=dict(name='MyDiscriminator') or "
                          f"dict(patch=dict(name='PatchD'), full=dict(name='FullD'))")
    name = node.get("NAME")
    if name is not None and not isinstance(name, dict):
        return OrderedDict([(SINGLE_NAME, node)])
    out = OrderedDict()
    for key, sub in node.items():
        d_name = str(key).lower()
        if not isinstance(sub, dict):
            raise ConfigError(f"{where}.{d_name}: expected a network dict(name=..., ...), got {sub!r}. "
                              f"Give one discriminator as dict(name=...), several as "
                              f"dict(<discriminator name>=dict(name=...), ...)")
        if d_name in SOLVER_KEYS:
            raise ConfigError(f"{where}.{d_name}: {d_name!r} can not name a discriminator (it is a "
                              f"key of solver.discriminator)")
        out[d_name] = sub
    return out


def discriminator_solver_nodes(node, names: List[str], where: str = "solver.discriminator"
                               ) -> Dict[str, Any]:
    """``{name: (solver section, its config path)}``: the engine defaults <- the shared
    ``optimizer``/``lr_scheduler`` of ``solver.discriminator`` <- the discriminator's own
    section ``solver.discriminator.<name>``."""
    tree = lower_keys(dict(node or {}))
    shared = {k: tree.pop(k) for k in SOLVER_KEYS if k in tree}
    unknown = [k for k in tree if k not in names]
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: there is no discriminator named {unknown[0]!r} in "
            f"trainer.model.discriminator (its discriminators: {names}). {where} holds "
            f"optimizer/lr_scheduler shared by every discriminator and/or one section per "
            f"discriminator name")
    uncovered = [n for n in names if n not in tree]
    if tree and uncovered and not shared:
        raise ConfigError(
            f"{where} has sections for {sorted(tree)} but none for {uncovered} (the "
            f"discriminators of trainer.model.discriminator are {names}): add "
            f"{where}.{uncovered[0]}, or optimizer/lr_scheduler keys shared by all")
    out = {}
    for name in names:
        section = get_default_cfg().SOLVER.GENERATOR.clone()
        prefix = f"{where.upper()}."
        merge_checked(section, upper_keys(shared), source="config", prefix=prefix)
        own = tree.get(name) or {}
        if not isinstance(own, dict):
            raise ConfigError(f"{where}.{name}: expected dict(optimizer=..., lr_scheduler=...), got {own!r}")
        merge_checked(section, upper_keys(own), source="config", prefix=f"{prefix}{name.upper()}.")
        out[name] = (section, f"{where}.{name}" if name in tree else where)
    return out
