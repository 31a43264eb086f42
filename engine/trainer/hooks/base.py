"""Hooks: behaviour added to the training loop without subclassing the trainer.

A hook is a :class:`HookBase` subclass; the trainer calls its stages in the loop:

    before_train()                     once, before the first step of this session
    before_step()                      before each step fetches its data
    after_step()                       after each optimizer step (``trainer.step_result``)
    after_eval(results)                after each evaluation the loop schedules
    after_train()                      once at the end, also after an error (close files)

Hooks run in ``priority`` order, lowest first (equal priorities: in registration order),
at every stage. ``self.trainer`` is the trainer (set by ``register_hooks``). An
``after_step`` that evaluates (PeriodicEval) returns the results; the trainer hands them
to every hook's ``after_eval`` there and then, once, before the next hook's
``after_step``. What ``state_dict()`` returns travels in every checkpoint
(``payload['trainer'][state_key]``) and is handed back to ``load_state_dict`` on
``--resume`` (from ``legacy_state_keys`` when the checkpoint predates the hook's
``state_key``), so a resumed run continues a hook's counters exactly. A hook that
follows an evaluator result keys its state by what it tracks (:class:`TrackingHook`).
Hooks run on every process: a decision that saves must come
out the same on every rank (evaluation results and the iteration are the same
everywhere; reduce anything else with ``engine.utils.comm``); ``request_stop`` made on
some ranks only is agreed with the next step (engine/trainer/stopping.py).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...utils.errors import ConfigError
from ..best import BestTracker
from ...utils.registry import Registry, build_from_cfg

__all__ = ["HookBase", "WriterHook", "Priority", "BUILD_HOOK_REGISTRY", "build_hooks", "check_state_keys",
           "TrackingHook"]

BUILD_HOOK_REGISTRY = Registry("BUILD_HOOK")
BUILD_HOOK_REGISTRY.__doc__ = "Hooks named in trainer.hooks = [dict(name=..., **kwargs)]."

STAGES = ("before_train", "before_step", "after_step", "after_eval", "after_train")


class Priority:
    """The built-ins' places (doc/trainer.md lists them); user hooks default to NORMAL."""

    HIGHEST = 0          # ModelSummary
    SEED_METHODS = 10    # before_loop / iterate_before / iterate_after / after_loop
    NONFINITE = 20       # non-finite skip accounting
    MONITOR = 30         # LearningRateMonitor, GradientNormMonitor
    NORMAL = 50          # user hooks
    LOGGER = 60          # the period's record to every writer
    WRITER = 65          # console, metrics.jsonl, TensorBoard (write order)
    EVAL = 70            # periodic and final evaluation; after_eval follows at once
    EARLY_STOPPING = 75
    BEST = 80            # model_best.pth, ModelCheckpoint (top-k)
    CHECKPOINT = 90      # periodic checkpoints
    PREEMPTION = 95      # SIGTERM/SIGINT: stop after this step
    LOWEST = 100         # progress bar
    LAST = 200           # Writers: closes the writers after every other hook's after_train


class HookBase:
    priority: int = Priority.NORMAL
    trainer: Any = None  # set by trainer.register_hooks

    def before_train(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> Optional[Dict[str, float]]:
        """None; or, from a hook that evaluated (PeriodicEval), the results, which the
        trainer hands to every hook's ``after_eval`` at once."""

    def after_eval(self, results: Dict[str, float]) -> None:
        pass

    def after_train(self) -> None:
        pass

    @property
    def state_key(self) -> str:
        """The key of this hook's state in checkpoints (the class name by default)."""
        return type(self).__name__

    @property
    def legacy_state_keys(self) -> Tuple[str, ...]:
        """Keys an earlier engine kept this hook's state under: read on resume when the
        checkpoint holds nothing under ``state_key``."""
        return ()

    def state_dict(self) -> Dict[str, Any]:
        """What must survive a resume; empty: nothing is saved."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}(priority={self.priority})"


class WriterHook(HookBase):
    """A place training records go. The Writers hook (hooks/writers.py) owns every
    WriterHook of the trainer and calls ``write(record, step)`` on the main process for
    each record: ``{'type': 'train', 'iter', 'epoch', <logged values>...}``
    every log period, ``{'type': 'eval', 'iter', <results>}`` after each evaluation,
    ``{'type': 'skip', ...}`` for a skipped non-finite step. ``open()`` comes before the
    first record, ``close()`` after the last (training or ``--eval-only``)."""

    priority = Priority.WRITER

    def open(self) -> None:
        pass

    def write(self, record: Dict[str, Any], step: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement write(record, step)")

    def close(self) -> None:
        pass


class TrackingHook(HookBase):
    """A hook that follows one evaluator result, ``monitor``, by ``mode`` with a
    :class:`BestTracker` (``tracker``; its other options as keywords). Its state is keyed
    by what it tracks, as Lightning keys its callbacks' states
    (``ModelCheckpoint{'monitor': 'val_mse', 'mode': 'min'}``): two of one class on
    different results keep their states apart, the same result twice is refused
    (:func:`check_state_keys`), and a checkpoint that kept the state under the class name
    (written before the key said what it tracks) still resumes it."""

    def __init__(self, monitor: str, mode: str, **tracker):
        name = type(self).__name__
        self.tracker = BestTracker(monitor, mode, where=(f"{name}: monitor", f"{name}: mode"), **tracker)
        self.monitor, self.mode = self.tracker.metric, self.tracker.mode

    @property
    def state_key(self) -> str:
        return f"{type(self).__name__}{dict(monitor=self.monitor, mode=self.mode)!r}"

    @property
    def legacy_state_keys(self) -> Tuple[str, ...]:
        return (type(self).__name__,)


def overrides(hook: HookBase, stage: str) -> bool:
    """Whether ``hook`` does something at ``stage`` (the loop calls only those)."""
    return getattr(type(hook), stage) is not getattr(HookBase, stage, None)


def check_state_keys(hooks: Sequence[HookBase], reserved: Sequence[str] = ()) -> None:
    """Every hook with a state keeps it under its own ``state_key`` in checkpoints, and
    none under a key the trainer keeps its own state under (``reserved``)."""
    keys = [h.state_key for h in hooks if overrides(h, "state_dict")]
    doubles = sorted({k for k in keys if keys.count(k) > 1})
    if doubles:
        raise ConfigError(f"two hooks keep their checkpoint state under one state_key {doubles}: "
                          f"give one another state_key")
    taken = sorted(set(keys) & set(reserved))
    if taken:
        raise ConfigError(f"a hook keeps its checkpoint state under the state_key {taken[0]!r}, which the "
                          f"trainer keeps its own state under (reserved: {sorted(reserved)}): give it "
                          f"another state_key")


def build_hooks(nodes: Optional[Sequence], where: str = "trainer.hooks") -> List[HookBase]:
    """The hooks of ``trainer.hooks``: a list of ``dict(name=..., **kwargs)``."""
    if not nodes:
        return []
    if not isinstance(nodes, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of dict(name=..., **kwargs), got {nodes!r}")
    hooks = []
    for i, node in enumerate(nodes):
        try:
            hook = build_from_cfg(BUILD_HOOK_REGISTRY, node, f"{where}[{i}]")
        except ConfigError as e:  # the hook's own check (EarlyStopping's mode...): say which entry
            if str(e).startswith(f"{where}[{i}]"):
                raise
            raise ConfigError(f"{where}[{i}]: {e}") from None
        if not isinstance(hook, HookBase):
            raise ConfigError(f"{where}[{i}]: {type(hook).__name__} is not a HookBase subclass")
        hooks.append(hook)
    return hooks
