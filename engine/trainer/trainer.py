"""The training loop. Small on purpose: read it top to bottom in :meth:`BaseTrainer.train`.

Each iteration runs a fixed, documented sequence:

    iterate_before(epoch) -> fetch k micro-batches -> model.train_iteration (forward,
    backward, clip, step, LR schedule, EMA) -> non-finite check -> iterate_after(epoch,
    loss_dict) -> log (every trainer.log_period) -> evaluate (every solver.eval_period)
    -> checkpoint (every solver.checkpoint_period)

and after the last one: evaluate, save ``model_final.pth``, ``after_loop()``.
Subclasses override the four seed hooks, or the ``build_*`` methods to change how the
model, datasets or evaluator are made.
"""
import logging
import math
import os
import sys
import time
from typing import Dict

from tqdm import tqdm

from .. import __version__
from ..checkpoint.checkpointer import Checkpointer, periodic_name
from ..config.loader import dump_cfg
from ..data.build import build_dataset, build_train_loader, build_val_loader
from ..evaluation.build import build_evaluator
from ..evaluation.evaluator import run_evaluation
from ..model.build import build_model
from ..utils import comm
from ..utils.errors import ConfigError, EngineError
from ..utils.rng import capture_rng_state, restore_rng_state
from .build import BUILD_TRAINER_REGISTRY
from .writers import PeriodStats, format_log_line, open_writers, peak_memory_mb

__all__ = ["BaseTrainer", "run_dir_of"]

logger = logging.getLogger("engine.trainer")


def run_dir_of(cfg) -> str:
    return os.path.join(cfg.OUTPUT_DIR, cfg.OUTPUT_LOG_NAME)


@BUILD_TRAINER_REGISTRY.register()
class BaseTrainer:
    def __init__(self, cfg):
        self.cfg = cfg
        self.run_dir = run_dir_of(cfg)
        self.rank, self.world_size = comm.get_rank(), comm.get_world_size()
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        self.model = self.build_model(cfg)
        self.model.modules_to_device()
        self.train_set = self.build_dataset(cfg, "train")
        self.val_set = self.build_dataset(cfg, "val")
        self.evaluator = self.build_evaluator(cfg) if self.val_set is not None else None
        self._val_loader = None
        self.checkpointer = Checkpointer(
            os.path.join(self.run_dir, "checkpoints"), cfg.SOLVER.MAX_KEEP, enabled=self.rank == 0
        )
        self.start_iter = 0
        self.iter = 0
        self.latest_eval: Dict[str, float] = {}

    # ------------------------------------------------------------ the seed's hooks
    def before_loop(self):
        """Called once before the first iteration (also after a resume)."""

    def after_loop(self):
        """Called once after the last iteration, final evaluation and checkpoint."""

    def iterate_before(self, epoch):
        """Called before each iteration."""

    def iterate_after(self, epoch, loss_dict):
        """Called after each optimizer step with that step's losses (python floats)."""

    # ------------------------------------------------------------ building
    def build_model(self, cfg):
        return build_model(cfg)

    def build_dataset(self, cfg, split: str):
        key = "TRAIN_DATA_SET" if split == "train" else "VAL_DATA_SET"
        return build_dataset(cfg.DATALOADER[key], f"dataloader.{key.lower()}")

    def build_evaluator(self, cfg):
        return build_evaluator(cfg.TRAINER.EVALUATOR)

    # ------------------------------------------------------------ state
    def resume_or_load(self, resume: bool = True) -> str:
        """--resume: continue from the newest complete checkpoint (fresh start if none).
        Otherwise load ``trainer.weights`` into the generator, if set. Returns what was
        loaded: 'checkpoint', 'weights' or ''."""
        if resume:
            found = self.checkpointer.load_latest()
            if found is not None:
                path, payload = found
                self.model.load_state_dict(payload["model"])
                self.start_iter = int(payload["iteration"])
                if "rng" in payload:
                    restore_rng_state(payload["rng"])
                logger.info("resumed from %s at iteration %d", path, self.start_iter)
                return "checkpoint"
            logger.info("--resume: no checkpoint in %s; starting from scratch", self.checkpointer.folder)
        if self.cfg.TRAINER.WEIGHTS:
            self.model.load_generator_weights(self.cfg.TRAINER.WEIGHTS)
            return "weights"
        return ""

    def checkpoint_payload(self, iteration: int) -> dict:
        return {
            "model": self.model.state_dict(),
            "iteration": iteration,
            "rng": capture_rng_state(),
            "config": dump_cfg(self.cfg),
            "engine_version": __version__,
        }

    def save_checkpoint(self, name: str, iteration: int) -> None:
        self.checkpointer.save(name, self.checkpoint_payload(iteration))

    # ------------------------------------------------------------ the loop
    def train(self) -> None:
        if self.train_set is None:
            raise ConfigError("dataloader.train_data_set.name is not set: name the training dataset")
        if self.start_iter >= self.max_iter:
            logger.info("training already complete (iteration %d of solver.max_iter %d)",
                        self.start_iter, self.max_iter)
            return
        loader, sampler = build_train_loader(
            self.train_set, self.cfg, start_iter=self.start_iter, device=self.model.device,
            rank=self.rank, world_size=self.world_size)
        accumulation = sampler.accumulation
        self._open_outputs()
        logger.info("training from iteration %d to %d: %d samples, %d per step on %d process(es)",
                    self.start_iter, self.max_iter, len(self.train_set), sampler.global_batch, self.world_size)
        self.before_loop()
        batches = iter(loader)
        try:
            for self.iter in range(self.start_iter, self.max_iter):
                epoch = sampler.epoch_at(self.iter)
                self.iterate_before(epoch)
                start = time.perf_counter()
                micro_batches = [next(batches) for _ in range(accumulation)]
                data_time = time.perf_counter() - start
                self._step_lr = self.model.lr  # the rate this step trains with
                losses = self.model.train_iteration(micro_batches, epoch=epoch)
                loss_dict = {name: float(value) for name, value in losses.items()}
                self._check_finite(loss_dict)
                iter_time = time.perf_counter() - start
                self.iterate_after(epoch, loss_dict)
                self._after_step(epoch, loss_dict, data_time, iter_time)
            self.iter = self.max_iter
            if self.val_set is not None:
                self.evaluate(self.max_iter)
            self.save_checkpoint("model_final.pth", self.max_iter)
        finally:
            self._close_outputs()
        self.after_loop()

    def _after_step(self, epoch: int, loss_dict, data_time: float, iter_time: float) -> None:
        done = self.iter + 1
        self._stats.add(loss_dict, data_time, iter_time)
        self._progress.update(1)
        period = max(1, int(self.cfg.TRAINER.LOG_PERIOD))
        if done % period == 0 or done == self.max_iter:
            self._log_period(epoch)
        if done == self.max_iter:
            return  # final evaluation and checkpoint follow the loop
        eval_period = int(self.cfg.SOLVER.EVAL_PERIOD)
        if self.val_set is not None and eval_period > 0 and done % eval_period == 0:
            self.evaluate(done)
        if done % max(1, int(self.cfg.SOLVER.CHECKPOINT_PERIOD)) == 0:
            self.save_checkpoint(periodic_name(done), done)

    def _check_finite(self, loss_dict) -> None:
        bad = [name for name, value in loss_dict.items() if not math.isfinite(value)]
        if bad:
            raise EngineError(
                f"non-finite loss at iteration {self.iter + 1}: "
                + ", ".join(f"{n}={loss_dict[n]}" for n in bad)
                + "; training stopped, the last checkpoint is kept as it was"
            )

    # ------------------------------------------------------------ evaluation
    def evaluate(self, step: int) -> Dict[str, float]:
        """Run the evaluator on the validation set; ``step`` = completed iterations."""
        if self._val_loader is None:  # built once; iterating it again restarts it
            self._val_loader = build_val_loader(self.val_set, self.cfg, device=self.model.device,
                                                rank=self.rank, world_size=self.world_size)
        results = run_evaluation(self.model, self._val_loader, self.evaluator)
        self.latest_eval = results
        if self.rank == 0 and getattr(self, "_metrics", None) is not None:
            self._metrics.write({"type": "eval", "iter": step, **results})
            self._tensorboard.write("eval", results, step)
        return results

    def test(self) -> Dict[str, float]:
        """--eval-only: evaluate the loaded weights, record the results, train nothing."""
        if self.val_set is None:
            raise ConfigError("--eval-only needs dataloader.val_data_set.name")
        self._open_outputs(progress=False)
        try:
            return self.evaluate(self.start_iter)
        finally:
            self._close_outputs()

    # ------------------------------------------------------------ outputs
    def _open_outputs(self, progress: bool = True) -> None:
        self._stats = PeriodStats()
        self._metrics = self._tensorboard = None
        if self.rank == 0:
            self._metrics, self._tensorboard = open_writers(self.run_dir)
        show = bool(self.cfg.TRAINER.PROGRESS_BAR) and progress and self.rank == 0
        self._progress = tqdm(total=self.max_iter, initial=self.start_iter, desc="train",
                              dynamic_ncols=True, file=sys.stderr, disable=None if show else True)

    def _close_outputs(self) -> None:
        for writer in (getattr(self, "_metrics", None), getattr(self, "_tensorboard", None)):
            if writer is not None:
                writer.close()
        if getattr(self, "_progress", None) is not None:
            self._progress.close()

    def _log_period(self, epoch: int) -> None:
        stats, done = self._stats, self.iter + 1
        iter_time = stats.iter_time / max(stats.count, 1)
        record = {
            "type": "train", "iter": done, "epoch": epoch, "losses": stats.means(),
            "lr": self._step_lr, "data_time": stats.data_time / max(stats.count, 1),
            "iter_time": iter_time, "eta_seconds": iter_time * (self.max_iter - done),
            "max_mem_mb": peak_memory_mb(self.model.device), "device": self.model.device.type,
        }
        stats.reset()
        if self.rank != 0:
            return
        logger.info(format_log_line(record, self.max_iter))
        self._progress.set_postfix(loss=f"{sum(record['losses'].values()):.4g}", refresh=False)
        flat = {k: v for k, v in record.items() if k not in ("losses", "type", "device")}
        self._metrics.write({"type": "train", **flat, **record["losses"]})
        self._tensorboard.write("train", {**record["losses"], "lr": record["lr"],
                                          "data_time": record["data_time"],
                                          "iter_time": record["iter_time"]}, done)
