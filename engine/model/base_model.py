"""The model bundle: the network, its optimizer, LR schedule and EMA, as one stateful unit.

A user subclasses :class:`BaseModel` and writes only the maths of one step
(``run_step`` returns a loss tensor or a dict of them) and of inference (``generator``).
The bundle does the rest of the step (train_step.py, where a batch's way to the
optimizer reads top to bottom; the gate it asks before the optimizer step: step.py).

Why every model speaks of ``g_model``, ``g_solver``, ``g_ema`` and ``generator()``: these
are the seed's names (TrainFramework, whose projects this engine runs as written), kept
as the one spelling. There the generator is simply *the network*: a classifier's or a
segmenter's net is its ``g_model``, inference is ``generator(data)``, and its solver is
``solver.generator``; GAN bundles (gan_model.py) add discriminators beside it.

Everything stateful is registered by name (:meth:`register_state`) and saved/restored
through :meth:`state_dict` / :meth:`load_state_dict`; the checkpointer knows nothing of
the parts.

Trained networks are also registered (:meth:`register_network`) so that the launcher can
wrap them for DistributedDataParallel/DataParallel (:meth:`wrap_networks`): the attribute
(``self.g_model``) then holds the wrapper, which the user's ``run_step`` calls, while
checkpoints, EMA and evaluation keep using the unwrapped network, so a checkpoint is the
same in every mode.
"""
import logging
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor  # noqa: F401  (a name of the released seed's base_model module)

from ..compat.seed.model_api import SeedModelAPI, ema_wrapper, lower  # noqa: F401  (the seed's names)
from ..solver.amp import Amp, build_amp
from ..solver.solver import Solver
from ..utils.device import resolve_device
from ..utils.errors import EngineError
from ..utils.events import EventStore
from .build import build_network
from .ema import build_ema
from .network_registry import NetworkRegistry
from .sharded_state import consolidated, load_consolidated
from .speed import eager
from .step import SKIPPED, as_loss_dict  # noqa: F401  (as_loss_dict: also imported from here)
from .train_step import BeforeStep, LossOutput, TrainStep  # noqa: F401  (names of this module before)

__all__ = ["BaseModel"]

logger = logging.getLogger(__name__)

_NULL = nullcontext()

VETOED = SKIPPED  # the former name of a step before_step refused


class BaseModel(TrainStep, NetworkRegistry, SeedModelAPI):
    def __init__(self, cfg):
        self.cfg = cfg
        self.device = resolve_device(cfg.TRAINER.DEVICE)
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        self._states: "OrderedDict[str, Any]" = OrderedDict()
        self._networks: "OrderedDict[str, torch.nn.Module]" = OrderedDict()  # unwrapped
        self._wrapped: "OrderedDict[str, torch.nn.Module]" = OrderedDict()  # DDP/DP wrappers
        self._solvers: "OrderedDict[str, Solver]" = OrderedDict()
        self._solver_names: Dict[int, str] = {}  # id(solver) -> registered name (gradient norms)
        # where log() records; the trainer hands over its own store (engine/utils/events.py)
        self.event_store = EventStore()
        self.amp: Amp = self.build_amp(cfg)
        self.scaler: Optional[torch.amp.GradScaler] = self.amp.make_scaler()  # float16 only
        self.last_step_skipped = False  # an optimizer step of the latest iteration overflowed (float16)
        self._scaler_used = False
        self.sharding = None  # trainer.fsdp: what sharding the networks changed (fsdp.py)

        self.g_model = self.build_network(cfg.TRAINER.MODEL.GENERATOR, "trainer.model.generator")
        self.g_solver = Solver(self.g_model, cfg.SOLVER.GENERATOR, self.max_iter, "solver.generator",
                               scaler=self.scaler)
        self.g_ema = build_ema(self.g_model, cfg.TRAINER.MODEL.EMA)
        self.register_network("g_model", self.g_model)
        self.register_solver("g_solver", self.g_solver)
        if self.g_ema is not None:
            self.register_state("g_ema", self.g_ema)
        if self.scaler is not None:
            self.register_state("scaler", self.scaler)

    # ----------------------------------------------------------------- to override
    def create_model(self, params) -> Optional[torch.nn.Module]:
        """Build the generator network yourself; returning None uses the registry
        (``trainer.model.generator.name`` with the other keys as arguments)."""
        return None

    def run_step(self, data, *, epoch=None, **kwargs) -> LossOutput:
        """One forward pass on a (micro-)batch; return a loss tensor or a dict of them."""
        raise NotImplementedError(f"{type(self).__name__} must implement run_step()")

    def generator(self, data):
        """Inference on a batch of inputs (evaluation and export use it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generator()")

    # ----------------------------------------------------------------- building
    def build_amp(self, cfg) -> Amp:
        """Mixed precision from ``solver.amp`` (checked against ``self.device``)."""
        return build_amp(cfg.SOLVER.AMP, self.device)

    def build_network(self, node, where: str) -> torch.nn.Module:
        return self.checked_network(self.create_model(node), node, where)

    def checked_network(self, network: Optional[torch.nn.Module], node, where: str) -> torch.nn.Module:
        """``network`` (what a ``create_*`` override built) or, when None, the registry's
        network for ``node``; checked and moved to ``self.device``."""
        if network is None:
            network = build_network(node, where)
        if not isinstance(network, torch.nn.Module):
            raise EngineError(f"{where}: expected an nn.Module, got {type(network).__name__}")
        return network.to(self.device)

    def register_state(self, name: str, obj: Any) -> None:
        """Make ``obj`` (anything with state_dict/load_state_dict) part of checkpoints."""
        if name in self._states:
            raise ValueError(f"state {name!r} is already registered")
        self._states[name] = obj

    def register_network(self, name: str, network: torch.nn.Module) -> None:
        """A trained network: checkpointed under ``name``, switched by train()/eval(), and
        wrapped by :meth:`wrap_networks`. ``name`` is the attribute that holds it
        (``'g_model'``), or ``'attr.key'`` for an entry of a dict attribute
        (``'d_models.patch'``)."""
        self.register_state(name, network)
        self._networks[name] = network

    def register_solver(self, name: str, solver: Solver) -> None:
        """A network's :class:`Solver`: checkpointed under ``name``; its skipped steps and
        LR are reported by :meth:`log_values`."""
        self.register_state(name, solver)
        self._solvers[name] = solver
        self._solver_names[id(solver)] = name

    def registered_states(self) -> "OrderedDict[str, Any]":
        """Everything checkpointed, by registered name (networks, solvers, EMA, scaler...)."""
        return OrderedDict(self._states)

    @property
    def solvers(self) -> "OrderedDict[str, Solver]":
        """The registered solvers by name (``g_solver``, ``d_solvers.<name>``)."""
        return OrderedDict(self._solvers)

    def modules_to_device(self) -> None:
        """Move every nn.Module attribute the subclass created (losses with weights...)."""
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(self.device)

    # ----------------------------------------------------------------- training
    @property
    def lr(self) -> float:
        return self.g_solver.lr

    @property
    def skipped_steps(self) -> int:
        """Optimizer steps skipped by the float16 GradScaler (overflow), whole run, all
        networks (each solver's count is in its checkpointed state)."""
        return sum(s.skipped_steps for s in self._solvers.values())

    def log(self, name: str, value, reduce: str = "mean") -> None:
        """Record a number (a float or a scalar tensor, read to the host only at the log
        period) for the log line, metrics.jsonl and TensorBoard: the mean over the
        logging period and over processes (``reduce='last'``: the latest value)."""
        self.event_store.log(name, value, reduce)

    def log_values(self) -> Dict[str, float]:
        """Numbers for the periodic log line, metrics.jsonl and TensorBoard besides the
        losses and ``lr`` (the trainer calls it at each log step)."""
        values: Dict[str, float] = {}
        if self.scaler is not None:
            values["amp_scale"] = float(self.scaler.get_scale())
            values["skipped_steps"] = float(self.skipped_steps)
        return values

    def train(self, mode: bool = True) -> "BaseModel":
        for net in self.networks:
            net.train(mode)
        return self

    def eval(self) -> "BaseModel":
        """Evaluation mode. Sharded networks (trainer.fsdp) gather their weights here, where
        every process switches at the same point, so inference is no collective (fsdp.py)."""
        self.train(False)
        if self.sharding is not None:
            self._inference_network()
        return self

    def _inference_network(self) -> torch.nn.Module:
        """The network inference uses: the EMA copy when EMA is enabled, else the trained
        one; an unsharded replica of it when the networks are sharded."""
        network = self.g_ema if self.g_ema is not None else self.unwrapped("g_model")
        if self.sharding is not None and "g_model" in self.sharding.templates:
            return self.sharding.replica("g_model", network, self.device)
        return network.module if self.g_ema is not None else network

    @contextmanager
    def inference_weights(self, autocast: bool = True):
        """Inside the block ``self.g_model`` is the network evaluation should use: the EMA
        copy when EMA is enabled, else the trained one (never a DDP wrapper, so ranks may
        evaluate different numbers of batches); always in eval mode, no grad. With AMP on
        and ``solver.amp.eval`` (the default) it runs under the training autocast too;
        ``autocast=False`` (export) keeps full precision. Networks compiled by
        ``trainer.compile`` run eagerly here (speed.py ``eager``)."""
        was_training = [net.training for net in self.networks]
        with self.unwrapped_networks(), eager(self.networks):
            trained = self.g_model
            self.g_model = self._inference_network()
            self.g_model.eval()
            try:
                with torch.no_grad(), self.amp.eval_autocast() if autocast else _NULL:
                    yield self.g_model
            finally:
                self.g_model = trained
                for net, mode in zip(self.networks, was_training):
                    net.train(mode)

    # ----------------------------------------------------------------- state
    def load_generator_weights(self, path: str, prefixes: Optional[Sequence[str]] = None):
        """``trainer.weights`` (fine-tuning, ``--eval-only``): load what matches into the
        generator, stripping ``prefixes`` (``trainer.weights_prefixes``); the EMA network
        gets the file's EMA weights when it has them (the weights training evaluated),
        else the loaded ones. The rule: engine/checkpoint/evaluated.py."""
        from ..checkpoint.evaluated import load_evaluated_weights

        return load_evaluated_weights(self, path, prefixes=prefixes, strict=False, what="trainer.weights")

    def state_dict(self) -> Dict[str, Any]:
        """Every registered state by name; with sharded networks the consolidated state
        (a collective), the same as an unsharded run's (sharded_state.py)."""
        if self.sharding is not None:
            return consolidated(self)
        return OrderedDict((name, obj.state_dict()) for name, obj in self._states.items())

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """A state from :meth:`state_dict` (or a distributed checkpoint's, read lazily:
        engine/checkpoint/sharded.py), whichever way this bundle's networks are held."""
        if hasattr(state, "load_into"):
            state.load_into(self)
            if self.sharding is not None:
                self.sharding.forget()
            return
        missing = [name for name in self._states if name not in state]
        if missing:
            raise EngineError(f"checkpoint lacks the model state(s) {missing}; it holds {list(state)}")
        if self.sharding is not None:
            load_consolidated(self, state)
            self.sharding.forget()
            return
        for name, obj in self._states.items():
            obj.load_state_dict(state[name])


# The built-in bundles for the common tasks subclass BaseModel: registered as soon as it
# exists, before any project's bundle (which may then take one of their names).
from . import tasks  # noqa: E402,F401
