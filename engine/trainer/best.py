"""The best values of one monitored evaluation result: the one rule behind
``model_best.pth`` (BestCheckpoint), ModelCheckpoint's top-k files and EarlyStopping.

A result is monitored by its name in the evaluator's results and a ``mode``: ``'max'``
(larger is better) or ``'min'``. :class:`BestTracker` keeps the ``keep`` best
``(value, iteration)`` pairs so far, best first (``1``: the best; ``-1``: every one;
``0``: none). A value enters when it is finite and there is room, or when it beats the
last one kept by more than ``min_delta``; between equal values the earlier iteration
ranks first, so an equal value never replaces a kept one. A NaN or infinite result never
enters (a diverged evaluation is not a best).

The tracker only ranks; each hook checkpoints what it tracks in its own state (its
``state_key`` names what it tracks: hooks/checkpoint.py, hooks/monitors.py), and that
state, from the checkpoint a run resumed from, is the one source of its best on resume.
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..utils.errors import ConfigError, EngineError

__all__ = ["BestTracker", "MODES"]

MODES = ("max", "min")

Entry = Tuple[float, int]  # (value, iteration)


class BestTracker:
    """``metric``/``mode`` as configured; ``where`` names both in errors (the config keys,
    or ``'<Hook>: monitor'`` and ``'<Hook>: mode'`` for a hook's arguments)."""

    def __init__(self, metric: str, mode: str, *, keep: int = 1, min_delta: float = 0.0,
                 where: Sequence[str] = ("solver.best_metric", "solver.best_mode")):
        self.what, mode_what = where
        if str(mode).lower() not in MODES:
            raise ConfigError(f"{mode_what} must be 'max' or 'min', got {mode!r}")
        self.metric, self.mode = str(metric or ""), str(mode).lower()
        self.keep, self.min_delta = int(keep), float(min_delta)
        self.entries: List[Entry] = []  # the kept (value, iteration), best first

    @property
    def value(self) -> Optional[float]:
        return self.entries[0][0] if self.entries else None

    @property
    def iteration(self) -> Optional[int]:
        return self.entries[0][1] if self.entries else None

    def read(self, results: Dict[str, Any], evaluator: str = "") -> float:
        """The monitored value of ``results``; an error naming what the evaluator returns
        when it is not among them."""
        if self.metric not in results:
            raise EngineError(
                f"{self.what} {self.metric!r} is not a result of the evaluator{' ' + evaluator if evaluator else ''}; "
                f"it returns: " + (", ".join(sorted(results)) or "nothing"))
        return float(results[self.metric])

    def beats(self, value: float, other: float, margin: float = 0.0) -> bool:
        return value > other + margin if self.mode == "max" else value < other - margin

    def offer(self, value: float, iteration: int) -> Optional[List[Entry]]:
        """Rank ``value`` of the evaluation after ``iteration`` steps. None when it does not
        enter (nothing changes); else the entries it pushed out (an earlier evaluation of
        the same iteration is replaced by it)."""
        if self.keep == 0 or not math.isfinite(value):
            return None
        others = [e for e in self.entries if e[1] != iteration]
        if 0 < self.keep <= len(others) and not self.beats(value, others[self.keep - 1][0], self.min_delta):
            return None
        sign = -1.0 if self.mode == "max" else 1.0
        ranked = sorted(others + [(float(value), int(iteration))], key=lambda e: (sign * e[0], e[1]))
        self.entries = ranked if self.keep < 0 else ranked[: self.keep]
        return ranked[len(self.entries):]

    def update(self, results: Dict[str, Any], iteration: int, evaluator: str = "") -> bool:
        """True when the monitored result of ``results`` enters (for ``keep=1``: is the new best)."""
        return self.offer(self.read(results, evaluator), iteration) is not None

    def describe(self) -> str:
        if self.value is None:
            return f"{self.metric} ({self.mode}): none yet"
        return f"{self.metric} ({self.mode}) = {self.value:.6g} at iteration {self.iteration}"
