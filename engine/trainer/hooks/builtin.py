"""The loop's own behaviours as hooks: non-finite skip
accounting, evaluation, stopping on SIGTERM/SIGINT and the progress bar."""
import logging
import signal
import sys
from typing import Dict, Optional

from tqdm import tqdm

from ..nonfinite import nonfinite_terms
from .base import HookBase, Priority

__all__ = ["NonFiniteSkips", "PeriodicEval", "Preemption", "ProgressBar"]

logger = logging.getLogger("engine.trainer")


class NonFiniteSkips(HookBase):
    """A step the non-finite guard skipped (``solver.skip_nonfinite_steps``): a warning
    naming the terms, and a ``'skip'`` record in metrics.jsonl."""

    priority = Priority.NONFINITE

    def __init__(self, guard):
        self.guard = guard

    def after_step(self) -> None:
        result = self.trainer.step_result
        if not result.skipped:
            return
        done, losses = self.trainer.iter + 1, result.floats()
        terms = nonfinite_terms(losses)
        logger.warning("iteration %d: non-finite %s (%s): step skipped, %d of solver.skip_nonfinite_steps=%d used",
                       done, result.outcome.reason, ", ".join(f"{n}={losses[n]}" for n in terms) or "losses finite",
                       self.guard.skipped, self.guard.max_skips)
        self.trainer.write({"type": "skip", "iter": done, "reason": result.outcome.reason, "nonfinite": terms,
                            "skipped_total": self.guard.skipped})


class PeriodicEval(HookBase):
    """Evaluate every ``solver.eval_period`` steps (0: only at the end), after the last
    step, and after a step in which a hook asked to stop, and return the results: the
    trainer hands them to every hook's ``after_eval`` at once (hooks/base.py)."""

    priority = Priority.EVAL

    def __init__(self, period: int):
        self.period = int(period)

    def after_step(self) -> Optional[Dict[str, float]]:
        trainer = self.trainer
        done = trainer.iter + 1
        due = self.period > 0 and done % self.period == 0
        final = done == trainer.max_iter or (trainer.stop_request is not None and not trainer.stop_request.signum)
        return trainer.evaluate(done) if due or final else None


class Preemption(HookBase):
    """SIGTERM/SIGINT (preemption.py; the trainer installs the handlers from the first
    line of ``train()``): a signal agreed by every process in a step's collective stops
    the run after that step (the trainer saves ``model_<iteration>.pth`` and exits
    143 / 130). On the last step the run just finishes.

    The step's agreement is made before its backward; a signal that arrives later, during
    the step's evaluation or checkpoint (seconds, where a step takes milliseconds), is
    agreed here, after them, in one collective made only on such steps (every process
    evaluates and saves at the same steps), so the run stops after this step, not the next."""

    priority = Priority.PREEMPTION

    def __init__(self, signals):
        self.signals = signals
        self.evaluated = -1  # the step (completed iterations) of the latest evaluation

    def after_eval(self, results) -> None:
        self.evaluated = self.trainer.iter + 1

    def after_step(self) -> None:
        trainer, done = self.trainer, self.trainer.iter + 1
        signum = trainer.step_result.outcome.stop
        if not signum and done < trainer.max_iter and done in (self.evaluated, trainer.saved_iter):
            signum = self.signals.requested() or 0
        if signum and done < trainer.max_iter:
            trainer.request_stop(f"{signal.Signals(signum).name} received", signum=signum)


class ProgressBar(HookBase):
    """A tqdm bar with ETA on stderr (only drawn on a terminal; trainer.progress_bar)."""

    priority = Priority.LOWEST

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar = None

    def before_train(self) -> None:
        trainer = self.trainer
        self._bar = tqdm(total=trainer.max_iter, initial=trainer.start_iter, desc="train", dynamic_ncols=True,
                         file=sys.stderr, disable=None if self.enabled else True)

    def after_step(self) -> None:
        self._bar.update(1)

    def after_train(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
