"""The model bundle: the network, its optimizer, LR schedule and EMA, as one stateful unit.

A user subclasses :class:`BaseModel` and writes only the maths of one step
(``run_step`` returns a loss tensor or a dict of them) and of inference (``generator``).
The bundle does the rest of the step in a fixed order:

    zero_grad -> for each micro-batch: run_step (under autocast with AMP),
    backward(loss / k) (scaled with AMP float16) -> [float16: unscale; an overflow skips
    the step] -> before_step(losses) (may veto the step) -> clip -> optimizer step ->
    LR schedule step -> EMA step -> [float16: scaler.update()]

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
from contextlib import ExitStack, contextmanager, nullcontext
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor  # noqa: F401  (a name of the released seed's base_model module)

from ..compat.seed.model_api import SeedModelAPI, ema_wrapper, lower  # noqa: F401  (the seed's names)
from ..loss.pipe import pop_logged_values
from ..solver.amp import Amp, build_amp
from ..solver.solver import Solver
from ..utils.device import resolve_device
from ..utils.errors import EngineError
from ..utils.events import EventStore
from .build import build_network
from .ema import build_ema
from .sharded_state import consolidated, load_consolidated
from .speed import eager
from .step import OVERFLOW, SKIPPED, STEPPED, Outcome, StepResult, decide, split_terms

__all__ = ["BaseModel"]

logger = logging.getLogger(__name__)

LossOutput = Union[torch.Tensor, Dict[str, torch.Tensor]]
BeforeStep = Optional[Callable[[Dict[str, torch.Tensor]], bool]]
_NULL = nullcontext()

VETOED = SKIPPED  # the former name of a step before_step refused


class BaseModel(SeedModelAPI):
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

    def unwrapped(self, name: str) -> torch.nn.Module:
        """The network registered as ``name``, without its DDP/DP wrapper."""
        return self._networks[name]

    def wrap_networks(self, wrap: Callable[[str, torch.nn.Module], torch.nn.Module]) -> None:
        """Replace every registered network's attribute by ``wrap(name, network)``
        (DistributedDataParallel, DataParallel). The wrapper's ``.module`` becomes the
        unwrapped network (it may be a new object, e.g. after SyncBatchNorm conversion)."""
        for name, network in list(self._networks.items()):
            wrapper = wrap(name, network)
            if wrapper is network:
                continue
            inner = getattr(wrapper, "module", wrapper)
            self._networks[name] = self._states[name] = inner
            self._wrapped[name] = wrapper
            self._set_network_attribute(name, wrapper)

    def _set_network_attribute(self, name: str, value: torch.nn.Module) -> None:
        attr, _, key = name.partition(".")
        if key:
            getattr(self, attr)[key] = value
        else:
            setattr(self, attr, value)

    @contextmanager
    def unwrapped_networks(self, keep: Sequence[str] = ()):
        """Inside the block every network attribute but those named in ``keep`` holds the
        unwrapped network."""
        names = [name for name in self._wrapped if name not in keep]
        for name in names:
            self._set_network_attribute(name, self._networks[name])
        try:
            yield
        finally:
            for name in names:
                self._set_network_attribute(name, self._wrapped[name])

    def no_sync(self, names: Optional[Sequence[str]] = None):
        """Skip DDP's gradient all-reduce (micro-batches before the last of a step) of the
        networks ``names`` (default: all)."""
        stack = ExitStack()
        for name, wrapper in self._wrapped.items():
            if (names is None or name in names) and hasattr(wrapper, "no_sync"):
                stack.enter_context(wrapper.no_sync())
        if self.sharding is not None:
            for name, network in self._networks.items():
                if (names is None or name in names) and hasattr(network, "set_requires_gradient_sync"):
                    network.set_requires_gradient_sync(False)
                    stack.callback(network.set_requires_gradient_sync, True)
        return stack

    def modules_to_device(self) -> None:
        """Move every nn.Module attribute the subclass created (losses with weights...)."""
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(self.device)

    # ----------------------------------------------------------------- training
    @property
    def networks(self) -> List[torch.nn.Module]:
        """The trained networks, unwrapped (what train()/eval() switch)."""
        return list(self._networks.values())

    def named_networks(self) -> "OrderedDict[str, torch.nn.Module]":
        """The trained networks, unwrapped, by registered name."""
        return OrderedDict(self._networks)

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

    def train_iteration(self, micro_batches: Sequence[Any], *, epoch: int = None,
                        before_step: BeforeStep = None) -> StepResult:
        """One optimizer step over ``k`` micro-batches; returns a :class:`StepResult`: the
        mean (detached) loss terms, a dict, with the step's outcome (stepped, skipped,
        overflow; an agreed stop signal; gradient norms). Dividing each micro-batch loss
        by ``k`` makes k x B equal one batch of kB.

        ``before_step(losses)`` (the trainer's non-finite guard) is called after every
        backward pass and before the optimizer step; when it returns False the step is
        skipped: gradients zeroed, no optimizer step, no EMA update, while the LR schedule
        still advances (it follows the iteration count, see doc/resume.md). A float16
        gradient overflow (finite losses) is the GradScaler's business, not the guard's:
        the step is skipped and counted in :attr:`skipped_steps`."""
        if not all(net.training for net in self.networks):
            self.train()  # after evaluation; switching every step costs ~0.1 ms
        self.g_solver.zero_grad()
        totals = self.forward_backward(self.run_step, micro_batches, epoch=epoch, gate=before_step)
        outcome = self.step_solvers([self.g_solver], totals, before_step)
        if outcome.status == STEPPED and self.g_ema is not None:
            self.g_ema.step(self.unwrapped("g_model"))
        self.last_step_skipped = outcome.status == OVERFLOW
        self.end_iteration()
        return StepResult(totals, outcome)

    def forward_backward(self, step: Callable[..., LossOutput], micro_batches: Sequence[Any], *,
                         epoch: int = None, sync: Optional[Sequence[str]] = None,
                         single: str = "loss", gate: BeforeStep = None) -> Dict[str, torch.Tensor]:
        """``step(data, epoch=epoch)`` and backward on each micro-batch (DDP's all-reduce
        only on the last, for the networks ``sync``); the mean loss terms (a bare tensor
        is named ``single``). Entries that are not loss terms (engine/model/step.py) are
        logged through :meth:`log`, not summed; so are the per-key values of the seed-form
        loss compositions the model holds (engine/loss/pipe.py ``pop_logged_values``).
        ``gate``: the step's ``before_step`` gate; one with a ``launch`` method (the
        trainer's non-finite guard) gets every loss term after the last forward pass,
        before its backward, so that the processes' verdict can travel with that
        backward's gradient all-reduce (engine/trainer/ddp_agreement.py; not with a
        float16 scaler, whose overflow verdict comes after backward)."""
        launch = getattr(gate, "launch", None) if self.scaler is None else None
        k = len(micro_batches)
        totals: Dict[str, torch.Tensor] = {}
        for i, data in enumerate(micro_batches):
            with self.no_sync(sync) if i < k - 1 else _NULL:
                pop_logged_values(self)  # drop values of calls outside a step (validation)
                with self.amp.autocast():
                    output = as_loss_dict(step(data, epoch=epoch), type(self).__name__,
                                          step.__name__, single)
                losses, logged = split_terms(output)
                # parts of another term (seed: loss = a + b beside a, b): the validation
                # total must not count them twice either (LossEvaluator)
                self.loss_components = frozenset(n for n in logged if getattr(output[n], "requires_grad", False))
                # per-key values of seed-form losses (``total = self.loss(dict(k=[...]))``)
                for name, value in pop_logged_values(self).items():
                    if name not in output:
                        logged[name] = value
                if not losses:
                    raise EngineError(
                        f"{type(self).__name__}.{step.__name__} returned no loss term: none of "
                        f"{sorted(output)} is a tensor that requires grad (a loss computed from "
                        f"a trained network); numbers and detached tensors are only logged")
                for name, value in logged.items():
                    self.event_store.log(name, value)
                loss = sum(losses.values())
                if k > 1:
                    loss = loss / k
                if launch is not None and i == k - 1:
                    launch(list(totals.values()) + list(losses.values()))
                (loss if self.scaler is None else self.scaler.scale(loss)).backward()
            for name, value in losses.items():
                value = value.detach() / k if k > 1 else value.detach()
                totals[name] = totals[name] + value if name in totals else value
        return totals

    def step_solvers(self, solvers: Sequence[Solver], losses: Dict[str, torch.Tensor],
                     before_step: BeforeStep = None) -> Outcome:
        """Ask ``before_step`` (engine/model/step.py ``decide``), then clip and step
        ``solvers`` or skip them (their schedules advance in every case). The outcome's
        status is ``'stepped'``, ``'overflow'`` (float16: a gradient overflowed, the
        scaler skipped the step) or ``'skipped'`` (``before_step`` refused it); its
        ``grad_norms`` holds each stepped solver's gradient norm when it computed one."""
        overflow = False
        if self.scaler is not None:
            self._scaler_used = True
            overflow = not all([s.unscale_() for s in solvers])
        outcome = decide(before_step, losses, overflow)
        if outcome.status == SKIPPED:
            for s in solvers:
                s.skip()
            return outcome
        for s in solvers:
            norm = s.step()
            if norm is not None:
                outcome.grad_norms[self._solver_names.get(id(s), "solver")] = norm
        outcome.status = OVERFLOW if any(s.last_skipped for s in solvers) else STEPPED
        return outcome

    def end_iteration(self) -> None:
        """float16: adjust the loss scale once per iteration, after every optimizer step."""
        if self._scaler_used:
            self.scaler.update()
            self._scaler_used = False

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


def as_loss_dict(output: LossOutput, owner: str, method: str = "run_step",
                 single: str = "loss") -> Dict[str, torch.Tensor]:
    """``output`` as a dict of scalar tensors and numbers (a bare tensor is named
    ``single``); which entries are loss terms: engine/model/step.py."""
    if isinstance(output, torch.Tensor):
        output = {single: output}
    if not isinstance(output, dict) or not output:
        raise EngineError(
            f"{owner}.{method} must return a loss tensor or a non-empty dict of loss tensors, "
            f"got {type(output).__name__}"
        )
    for name, value in output.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            continue
        if isinstance(value, dict):
            raise EngineError(
                f"{owner}.{method} returned {name!r} = a dict {sorted(map(str, value))}; return "
                f"LossKeyCompose's per-key dict itself (each key a loss term), or call it with a "
                f"list of inputs per key (the seed's form) to get one total tensor")
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise EngineError(
                f"{owner}.{method} returned {name!r} = {type(value).__name__}"
                f"{tuple(value.shape) if isinstance(value, torch.Tensor) else ''}; "
                f"each entry must be a scalar tensor (a loss) or a number (logged)"
            )
    return output


# The built-in bundles for the common tasks subclass BaseModel: registered as soon as it
# exists, before any project's bundle (which may then take one of their names).
from . import tasks  # noqa: E402,F401
