"""Optional hooks, named in ``trainer.hooks``: EarlyStopping, LearningRateMonitor,
GradientNormMonitor, ModelSummary."""
import logging
from typing import Any, Dict, List

from tabulate import tabulate

from ...utils.errors import ConfigError
from .base import BUILD_HOOK_REGISTRY, HookBase, Priority, TrackingHook

__all__ = ["EarlyStopping", "LearningRateMonitor", "GradientNormMonitor", "ModelSummary", "summary_rows"]

logger = logging.getLogger("engine.trainer")


@BUILD_HOOK_REGISTRY.register()
class EarlyStopping(TrackingHook):
    """Stop when ``monitor`` (a result of the evaluator) has not improved by more than
    ``min_delta`` for ``patience`` evaluations in a row: ``trainer.request_stop`` then
    ends the run after this step with ``model_final.pth`` (exit status 0). Improvement is
    engine/trainer/best.py's rule (a NaN or infinite result never improves). The best
    value and the count of evaluations without improvement are checkpointed under a key
    naming the monitor and mode (Lightning's), so two of them on different monitors each
    resume their own; a checkpoint that kept it under ``EarlyStopping`` still resumes."""

    priority = Priority.EARLY_STOPPING

    def __init__(self, monitor: str, mode: str = "min", patience: int = 3, min_delta: float = 0.0):
        super().__init__(monitor, mode, min_delta=max(0.0, float(min_delta)))
        if int(patience) < 1 or float(min_delta) < 0:
            raise ConfigError(f"EarlyStopping: patience must be >= 1 and min_delta >= 0, "
                              f"got patience={patience}, min_delta={min_delta}")
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.waited = 0  # evaluations since the last improvement

    def after_eval(self, results: Dict[str, float]) -> None:
        trainer, tracker = self.trainer, self.tracker
        value, done = tracker.read(results, type(trainer.evaluator).__name__), trainer.iter + 1
        if tracker.offer(value, done) is not None:
            self.waited = 0
            return
        self.waited += 1
        if self.waited >= self.patience and done < trainer.max_iter:
            best = "no finite value yet" if tracker.value is None else \
                f"best {tracker.value:.6g} at iteration {tracker.iteration}"
            trainer.request_stop(f"EarlyStopping: {self.monitor} did not improve by more than {self.min_delta:g} "
                                 f"in {self.waited} evaluation(s) ({best})")

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.tracker.value, "best_iter": self.tracker.iteration, "waited": self.waited}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        best, best_iter = state.get("best"), state.get("best_iter")
        self.tracker.entries = [] if best is None else [(float(best), int(best_iter))]
        self.waited = int(state.get("waited", 0))


@BUILD_HOOK_REGISTRY.register()
class LearningRateMonitor(HookBase):
    """Logs the LR every optimizer of the bundle trains the step with: ``lr/<solver>``
    (``g_solver``, ``d_solvers.<name>``), and ``lr/<solver>/group<i>`` per param group
    when a solver has several (their ``lr_mult`` differ)."""

    priority = Priority.MONITOR

    def before_step(self) -> None:
        trainer = self.trainer
        for name, solver in trainer.model.solvers.items():
            groups = solver.optimizer.param_groups
            trainer.log(f"lr/{name}", solver.lr, reduce="last")
            if len(groups) > 1:
                for i, group in enumerate(groups):
                    trainer.log(f"lr/{name}/group{i}", float(group["lr"]), reduce="last")


@BUILD_HOOK_REGISTRY.register()
class GradientNormMonitor(HookBase):
    """Logs ``grad_norm/<solver>``: the total gradient norm before clipping that
    ``Solver.step`` computes (it computes it for this hook when clipping is off), the
    mean over the logging period; no host sync per step (the store keeps tensors)."""

    priority = Priority.MONITOR

    def before_train(self) -> None:
        for solver in self.trainer.model.solvers.values():
            solver.measure_norm = True

    def after_step(self) -> None:
        for name, norm in self.trainer.step_result.outcome.grad_norms.items():
            self.trainer.log(f"grad_norm/{name}", norm)


@BUILD_HOOK_REGISTRY.register()
class ModelSummary(HookBase):
    """At the start, a table of every trained network's modules (to ``max_depth``
    levels): name, type, parameters, trainable and frozen counts; in log.txt."""

    priority = Priority.HIGHEST

    def __init__(self, max_depth: int = 1):
        self.max_depth = int(max_depth)

    def before_train(self) -> None:
        rows = summary_rows(self.trainer.model, self.max_depth)
        table = tabulate(rows, headers=["module", "type", "params", "trainable", "frozen"], intfmt=",")
        logger.info("model summary:\n%s", table)


def summary_rows(model, max_depth: int = 1) -> List[List[Any]]:
    """``[name, type, params, trainable, frozen]`` per module of every registered network."""
    rows = []
    for net_name, network in model.named_networks().items():
        for name, module in network.named_modules():
            depth = 0 if not name else name.count(".") + 1
            if depth > max_depth:
                continue
            params = list(module.parameters())
            trainable = sum(p.numel() for p in params if p.requires_grad)
            total = sum(p.numel() for p in params)
            rows.append([f"{net_name}.{name}" if name else net_name, type(module).__name__, total,
                         trainable, total - trainable])
    return rows
