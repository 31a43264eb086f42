"""``model_best.pth``: the checkpoint of the best evaluation so far.

``solver.best_metric`` names one result of the evaluator (``''``: off, the default) and
``solver.best_mode`` says whether larger (``'max'``) or smaller (``'min'``) is better.
After each evaluation during training (periodic and final) a strictly better, finite
value makes the trainer save the full checkpoint of that iteration as
``model_best.pth`` (atomically; ``last_checkpoint`` is not touched). The best value and
its iteration travel in every checkpoint (``payload['trainer']['best']``) and are read
back from ``model_best.pth`` itself on resume, so a resumed run never replaces a better
``model_best.pth`` with a worse one, even when it resumed from an older checkpoint.
"""
import logging
import math
from typing import Any, Dict, Optional

from ..utils.errors import ConfigError, EngineError

__all__ = ["BestTracker", "BEST_NAME"]

logger = logging.getLogger("engine.trainer")

BEST_NAME = "model_best.pth"
MODES = ("max", "min")


class BestTracker:
    def __init__(self, metric: str, mode: str):
        mode = str(mode).lower()
        if mode not in MODES:
            raise ConfigError(f"solver.best_mode must be 'max' or 'min', got {mode!r}")
        self.metric = str(metric or "")
        self.mode = mode
        self.value: Optional[float] = None
        self.iteration: Optional[int] = None

    @property
    def enabled(self) -> bool:
        return bool(self.metric)

    def better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.value is None:
            return True
        return value > self.value if self.mode == "max" else value < self.value

    def update(self, results: Dict[str, Any], iteration: int, evaluator: str = "the evaluator") -> bool:
        """True when ``results`` improve on the best so far (and become the best)."""
        if not self.enabled:
            return False
        if self.metric not in results:
            raise EngineError(
                f"solver.best_metric {self.metric!r} is not a result of {evaluator}; it returns: "
                + (", ".join(sorted(results)) or "nothing")
            )
        value = float(results[self.metric])
        if not math.isfinite(value):
            logger.warning("evaluation at iteration %d: %s=%s is not finite; model_best.pth is kept",
                           iteration, self.metric, value)
            return False
        if not self.better(value):
            return False
        self.value, self.iteration = value, int(iteration)
        return True

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> Dict[str, Any]:
        return {"metric": self.metric, "mode": self.mode, "value": self.value, "iteration": self.iteration}

    def load_state_dict(self, state: Optional[Dict[str, Any]], source: str) -> None:
        """Adopt a stored best (from a checkpoint or model_best.pth) when it is for the
        same metric and mode and better than the one held."""
        if not state or state.get("value") is None or not self.enabled:
            return
        if (state.get("metric"), state.get("mode")) != (self.metric, self.mode):
            logger.warning(
                "%s holds the best for %s (%s), this run tracks %s (%s): model_best.pth will be "
                "replaced at the next evaluation", source, state.get("metric"), state.get("mode"),
                self.metric, self.mode)
            return
        if self.better(float(state["value"])):
            self.value, self.iteration = float(state["value"]), int(state["iteration"])

    def describe(self) -> str:
        if self.value is None:
            return f"{self.metric} ({self.mode}): none yet"
        return f"{self.metric} ({self.mode}) = {self.value:.6g} at iteration {self.iteration}"
