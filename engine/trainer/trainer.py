"""The training loop. Small on purpose: read it top to bottom in :meth:`BaseTrainer.train`.

Everything the loop does besides stepping the model is a hook (engine/trainer/hooks/),
called in priority order at five stages: before_train, before_step, after_step,
after_eval(results), after_train. The built-ins (doc/trainer.md#hooks): the seed's
four methods (SeedMethods), non-finite skip accounting, the period's record, evaluation
and model_best.pth, periodic checkpoints, SIGTERM/SIGINT, the progress bar, and the
Writers hook that owns the writers (log line, metrics.jsonl, TensorBoard) and gets
every record (:meth:`BaseTrainer.write`). Add one with ``trainer.hooks`` in the
config or :meth:`BaseTrainer.register_hooks` in code. Checkpoints and resume live in
state.py (fault tolerance: doc/resume.md), the seed's method names in
engine/compat/seed/trainer_api.py, a
session's edges (a signal before the first step, --eval-only records) in session.py.
"""
import logging
import os
import time
import weakref
from typing import Dict, List, Optional, Sequence

from ..checkpoint.checkpointer import Checkpointer
from ..checkpoint.names import FINAL, periodic_name
from ..compat.seed.trainer_api import SeedMethods, SeedTrainerAPI, epochs_as_iterations
from ..data.build import build_dataset, build_train_loader, build_val_loader
from ..evaluation.build import build_evaluator
from ..evaluation.evaluator import run_evaluation
from ..model.build import build_model
from ..model.parallel import wrap_for_parallel
from ..model.step import StepGate, StepResult
from ..utils import comm
from ..utils.errors import ConfigError, EngineError
from ..utils.events import EventStore
from ..utils.host_memory import reuse_host_memory
from .build import BUILD_TRAINER_REGISTRY
from .ddp_agreement import BucketAgreement
from .hooks import (BestCheckpoint, ConsoleWriter, HookBase, JsonWriter, MetricsLogger, NonFiniteSkips,
                    PeriodicCheckpoint, PeriodicEval, Preemption, ProgressBar, TensorboardWriter, Writers,
                    build_hooks)
from .hooks.base import STAGES, check_state_keys, overrides
from .nonfinite import NonFiniteGuard
from .preemption import StopSignals, TrainingInterrupted
from .session import (eval_record, note_extending, nothing_to_train, record_eval_only,
                      set_aside_earlier_outputs, stop_before_training)
from .state import OWN_KEYS, TrainerState, accepts_keyword, run_dir_of
from .state_registry import StateRegistry
from .stopping import StopRequest, agreed_stop, pending_stop

__all__ = ["BaseTrainer", "StopRequest", "run_dir_of"]

logger = logging.getLogger("engine.trainer")


@BUILD_TRAINER_REGISTRY.register()
class BaseTrainer(SeedTrainerAPI, TrainerState):
    def __init__(self, cfg):
        self.cfg = cfg
        self.run_dir = run_dir_of(cfg)
        self.rank, self.world_size = comm.get_rank(), comm.get_world_size()
        self.set_collate_fn(cfg)  # the seed's: collate_train_fn / collate_valid_fn
        self.train_set, self.val_set, self.test_set = self._create_datasets(cfg)
        self.cfg, self.epoch_steps = epochs_as_iterations(cfg, self.train_set, self.world_size)
        cfg = self.cfg
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        self.model = self.create_model(cfg)
        self.model.modules_to_device()
        self.model = self.wrap_model(self.model)  # DDP / DataParallel when several processes/GPUs
        evaluated = self.val_set is not None or self.test_set is not None
        self.evaluator = self.build_evaluator(cfg) if evaluated else None
        self.checkpointer = Checkpointer(
            os.path.join(self.run_dir, "checkpoints"), cfg.SOLVER.MAX_KEEP, enabled=self.rank == 0)
        self.start_iter = self.iter = 0
        self.epoch: Optional[int] = None            # the epoch of the current step
        self.latest_eval: Dict[str, float] = {}
        self.event_store = EventStore()  # every logged number (engine/utils/events.py)
        self.model.event_store = self.event_store  # BaseModel.log() records here
        self.stop_signals = StopSignals()
        self.nonfinite_guard = NonFiniteGuard(cfg.SOLVER.SKIP_NONFINITE_STEPS, lambda: self.model.networks,
                                              lambda: self.stop_signals.received or 0,
                                              lambda: self.pending_stop is not None)
        self.step_gate = self.build_step_gate()  # model.train_iteration's before_step, chosen once
        self.step_result = StepResult({})           # the latest step's losses and outcome
        self.stop_request: Optional[StopRequest] = None  # agreed: every process stops after this step
        self.pending_stop: Optional[StopRequest] = None  # asked here, agreed with the next step (stopping.py)
        self.finished = False                       # the loop ended (not by an error or a signal)
        self.resumed_from: Optional[str] = None     # the checkpoint this session started from
        self.state_registry = StateRegistry()       # everything a checkpoint saves, by key
        self.register_saved_parts()                 # the bundle, RNG, data position, guard, stop
        self.saved_iter: Optional[int] = None       # iteration of the newest checkpoint saved
        self._eval_loaders: Dict[str, object] = {}  # split -> loader, built once
        self.writers = Writers()                    # owns the writer hooks: write() hands it each record
        self.hooks: List[HookBase] = []
        self._staged: Dict[str, List[HookBase]] = {stage: [] for stage in STAGES}
        self.register_hooks(self.build_hooks())

    # ------------------------------------------------------------ building
    def build_model(self, cfg):
        return build_model(cfg)

    def wrap_model(self, model):
        """Wrap the bundle's trained networks for the parallel mode (DDP when several
        processes train, DataParallel for trainer.parallel 'dp'); see
        engine/model/parallel.py. Override to wrap differently; return the bundle."""
        return wrap_for_parallel(model, self.cfg)

    def build_step_gate(self) -> Optional[StepGate]:
        """The gate the bundle's step asks (engine/model/step.py): the non-finite guard, in
        DDP's gradient all-reduce where it can be (ddp_agreement.py); None for a bundle whose
        train_iteration takes no ``before_step`` (judged after its step, it cannot skip)."""
        if accepts_keyword(self.model.train_iteration, "before_step"):
            return BucketAgreement.around(self.nonfinite_guard, self.model)
        self.nonfinite_guard.refuse_skipping(type(self.model).__name__)
        return None

    def build_dataset(self, cfg, split: str):
        key = {"train": "TRAIN_DATA_SET", "val": "VAL_DATA_SET", "test": "TEST_DATA_SET"}[split]
        return build_dataset(cfg.DATALOADER.get(key), f"dataloader.{key.lower()}")

    def build_evaluator(self, cfg):
        """Files an evaluator writes (a confusion-matrix PNG) go to ``<run_dir>/eval``."""
        return build_evaluator(cfg.TRAINER.EVALUATOR, output_dir=os.path.join(self.run_dir, "eval"))

    def build_hooks(self) -> List[HookBase]:
        """The built-in hooks for this config, then those of ``trainer.hooks``."""
        cfg = self.cfg
        hooks = [SeedMethods(), NonFiniteSkips(self.nonfinite_guard), MetricsLogger(cfg.TRAINER.LOG_PERIOD)]
        if self.val_set is not None:
            hooks.append(PeriodicEval(cfg.SOLVER.EVAL_PERIOD))
        if cfg.SOLVER.BEST_METRIC:
            if self.val_set is None:
                raise ConfigError(f"solver.best_metric {cfg.SOLVER.BEST_METRIC!r} needs a validation dataset "
                                  f"(dataloader.val_data_set.name is empty)")
            hooks.append(BestCheckpoint(cfg.SOLVER.BEST_METRIC, cfg.SOLVER.BEST_MODE))
        hooks += [PeriodicCheckpoint(cfg.SOLVER.CHECKPOINT_PERIOD), Preemption(self.stop_signals),
                  ProgressBar(bool(cfg.TRAINER.PROGRESS_BAR) and self.rank == 0),
                  ConsoleWriter(self.max_iter, self.model.device),
                  JsonWriter(os.path.join(self.run_dir, "metrics.jsonl")), TensorboardWriter(self.run_dir),
                  self.writers]
        return hooks + build_hooks(cfg.TRAINER.HOOKS)

    # ------------------------------------------------------------ hooks
    def register_hooks(self, hooks: Sequence[HookBase]) -> None:
        """Add hooks (each ``hook.trainer`` becomes this trainer); all run in priority
        order, equal priorities in registration order. A hook registered after
        ``resume_or_load`` still gets its checkpointed state."""
        for hook in hooks:
            if not isinstance(hook, HookBase):
                raise EngineError(f"register_hooks: {hook!r} is not a HookBase")
            hook.trainer = weakref.proxy(self)
        check_state_keys(self.hooks + list(hooks), reserved=OWN_KEYS)
        for hook in hooks:  # a hook with a state saves it under its key (state_registry.py)
            if overrides(hook, "state_dict") or overrides(hook, "load_state_dict"):
                self.state_registry.register(f"trainer.{hook.state_key}", hook, legacy_keys=hook.legacy_state_keys,
                                             missing={}, what=f"hook {type(hook).__name__}")
        self.hooks = sorted(self.hooks + list(hooks), key=lambda h: h.priority)
        self._staged = {stage: [h for h in self.hooks if overrides(h, stage)] for stage in STAGES}

    def call_hooks(self, stage: str, *args) -> None:
        """``stage`` on every hook that has it, in priority order. Results an
        ``after_step`` returns (PeriodicEval's evaluation) go to every hook's
        ``after_eval`` there and then, once, before the next hook's ``after_step``."""
        for hook in self._staged[stage]:
            results = getattr(hook, stage)(*args)
            if stage == "after_step" and isinstance(results, dict):
                self.call_hooks("after_eval", results)

    def request_stop(self, reason: str, signum: int = 0) -> None:
        """Stop after the current step: it finishes (its remaining hooks see
        ``trainer.stop_request``), then the final evaluation and ``model_final.pth``, exit 0.
        With several processes (a request made on any of them) every process stops after
        the next step, once the request travelled with its verdict (stopping.py)."""
        if self.stop_request is None and self.pending_stop is None:
            if signum or self.world_size == 1:  # a signal's stop is agreed already
                self.stop_request = StopRequest(str(reason), int(signum))
            else:
                self.pending_stop = pending_stop(reason, self.iter + 1)

    def log(self, name: str, value, reduce: str = "mean") -> None:
        """Record a number for the period's record (engine/utils/events.py)."""
        self.event_store.log(name, value, reduce)

    def write(self, record: dict) -> None:
        """Hand ``record`` to every writer hook (main process; the Writers hook owns them)."""
        self.writers.write(record)

    # ------------------------------------------------------------ the loop
    def train(self) -> None:
        """The loop. SIGTERM/SIGINT are handled from its first line: one received before
        the first step ends the run at once (exit 143/130, nothing trained or saved);
        later, after the step (a checkpoint, then 143/130; preemption.py)."""
        with self.stop_signals.installed():
            if self.train_set is None:
                raise ConfigError("dataloader.train_data_set.name is not set: name the training dataset")
            if nothing_to_train(self):
                return
            note_extending(self)
            if self.cfg.TRAINER.REUSE_HOST_MEMORY:  # before the loader's workers fork: they inherit it
                logger.info("host memory: %s", reuse_host_memory())
            loader, sampler = build_train_loader(
                self.train_set, self.cfg, start_iter=self.start_iter, device=self.model.device, rank=self.rank,
                world_size=self.world_size, collate_fn=self.collate_train_fn)
            logger.info("training from iteration %d to %d: %d samples, %d per step on %d process(es)",
                        self.start_iter, self.max_iter, len(self.train_set), sampler.global_batch, self.world_size)
            self.train_data_loader = loader
            self._loop(iter(loader), sampler)

    def _loop(self, batches, sampler) -> None:
        if self.rank == 0 and self.start_iter == 0 and self.resumed_from is None:
            set_aside_earlier_outputs(self.run_dir)
        try:
            self.call_hooks("before_train")
            stop_before_training(self)
            for self.iter in range(self.start_iter, self.max_iter):
                self.epoch = sampler.epoch_at(self.iter)
                self.call_hooks("before_step")
                self.step_result = self.run_step(batches, sampler.accumulation)
                self.call_hooks("after_step")
                if self.stop_request is not None:
                    break
            self.finish(self.iter + 1)
        finally:
            batches = None  # shut the loader's workers down now, not when the traceback is freed
            self.call_hooks("after_train")

    def run_step(self, batches, accumulation: int) -> StepResult:
        """Fetch the step's micro-batches, train on them (engine/model/train_step.py, with
        the gate ``build_step_gate`` chose), log the losses and times."""
        lr, start = self.model.lr, time.perf_counter()  # the rate this step trains with
        micro_batches = [next(batches) for _ in range(accumulation)]
        data_time = time.perf_counter() - start
        self.nonfinite_guard.begin(self.iter)
        if self.step_gate is not None:
            result = self.model.train_iteration(micro_batches, epoch=self.loop_epoch, before_step=self.step_gate)
        else:  # a bundle whose train_iteration takes no before_step: judged after its step
            result = self.nonfinite_guard.judge_ungated(
                self.model.train_iteration(micro_batches, epoch=self.loop_epoch))
        asked_by = result.outcome.asked_by  # ranks with a request_stop, agreed in the step (stopping.py)
        self.stop_request = self.stop_request or agreed_stop(self.pending_stop, asked_by, self.world_size)
        self._record_step(result, lr, data_time, start)
        return result

    def _record_step(self, result: StepResult, lr: float, data_time: float, start: float) -> None:
        losses = result.floats()  # one transfer (none when the gate already read them)
        if not result.skipped:
            for name, value in losses.items():
                self.event_store.log(name, value)
        self.event_store.log("lr", lr, "last")
        self.event_store.log("data_time", data_time)
        self.event_store.log("iter_time", time.perf_counter() - start)

    def finish(self, done: int) -> None:
        """After the last step (or a stop): a stop signal saves ``model_<done>.pth`` and
        exits 143/130; otherwise ``model_final.pth`` and the run is finished."""
        self.iter = done
        stop = self.stop_request
        if stop is not None and stop.signum:
            if self.saved_iter != done:
                self.save_checkpoint(periodic_name(done), done)
            interrupted = TrainingInterrupted(stop.signum, done, self.checkpointer.last_name())
            logger.warning("stopped by %s after iteration %d: checkpoint %s saved; run the same command with "
                           "--resume to continue (exit status %d)", interrupted.signal_name, done,
                           os.path.join(self.checkpointer.folder, self.checkpointer.last_name() or ""),
                           interrupted.code)
            raise interrupted
        if stop is not None:
            logger.warning("stopping after iteration %d of %d: %s", done, self.max_iter, stop.reason)
        self.save_checkpoint(FINAL, done)
        self.finished = True

    # ------------------------------------------------------------ evaluation
    def evaluate(self, step: int, split: str = "val") -> Dict[str, float]:
        """Run the evaluator on the ``split`` set ('val' or 'test'); ``step`` = completed
        iterations. The record is ``{'type': 'eval', 'iter', ...}`` (``'split': 'test'``
        for the test set), handed to the writers (hooks/writers.py's Writers)."""
        results = self._run_evaluator(split)
        self.write(eval_record(step, split, results))
        return results

    def _run_evaluator(self, split: str) -> Dict[str, float]:
        if split not in self._eval_loaders:  # built once; iterating it again restarts it
            self._eval_loaders[split] = build_val_loader(
                self.test_set if split == "test" else self.val_set, self.cfg, device=self.model.device,
                rank=self.rank, world_size=self.world_size, collate_fn=self.collate_valid_fn,
                where=f"dataloader.{split}_data_set")
        results = run_evaluation(self.model, self._eval_loaders[split], self.evaluator)
        self.latest_eval = results
        return results

    def test(self) -> Dict[str, float]:
        """--eval-only: evaluate the loaded weights on ``dataloader.test_data_set`` when it
        is set, else on the validation set; record the results (not again when
        metrics.jsonl already holds the same record: session.py), train nothing."""
        if self.val_set is None and self.test_set is None:
            raise ConfigError("--eval-only needs dataloader.val_data_set.name (or test_data_set.name)")
        split = "test" if self.test_set is not None else "val"
        results = self._run_evaluator(split)  # recorded below, unless already recorded
        record_eval_only(self, eval_record(self.start_iter, split, results))
        return results
