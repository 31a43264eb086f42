"""Ranges of the engine's numeric keys, checked once the whole config is merged.

Types are checked as each source is merged (loader.merge_checked); whether a value of
the right type makes sense is checked here, before anything is written or launched, so
that ``solver.test_per_batch 0`` fails in the first second instead of after training,
at the final evaluation, and ``solver.max_iter 10**30`` never reaches the run directory.

Upper bounds are far beyond any real run; they exist so that an extra digit or an
exponent typed by mistake fails with a message instead of an overflow or a machine
running out of memory.
"""
from typing import Optional

from ..utils.errors import ConfigError

__all__ = ["check_values", "RANGES"]

MAX_SEED = 2**63 - 1       # the seeds derived per sample are 63-bit (engine/utils/rng.py)
MAX_ITER = 10**9
MAX_BATCH = 2**20

# dotted key -> (smallest, largest or None, what the bound means)
RANGES = {
    "seed": (0, MAX_SEED, ""),
    "dataloader.num_workers": (0, 1024, "0 loads in the main process"),
    "dataloader.prefetch_factor": (1, 1024, ""),
    "solver.train_per_batch": (1, MAX_BATCH, ""),
    "solver.test_per_batch": (1, MAX_BATCH, ""),
    "solver.max_iter": (1, MAX_ITER, ""),
    "solver.checkpoint_period": (1, None, "checkpoints are also written at the end and on SIGTERM"),
    "solver.eval_period": (0, None, "0 = evaluate only at the end"),
    "solver.skip_nonfinite_steps": (0, None, "0 = stop at the first non-finite loss"),
    "trainer.log_period": (1, None, ""),
    "trainer.model.g_step": (1, None, ""),
    "trainer.model.ema.update_every": (1, None, ""),
    "solver.amp.growth_interval": (1, None, ""),
}


def check_values(cfg) -> None:
    """Raise ConfigError for the first engine value outside its range."""
    for key, (low, high, note) in RANGES.items():
        value = _get(cfg, key)
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            continue
        if value < low or (high is not None and value > high):
            raise ConfigError(_message(key, value, low, high, note))


def _get(cfg, key: str) -> Optional[int]:
    node = cfg
    for part in key.upper().split("."):
        node = node.get(part) if hasattr(node, "get") else None
        if node is None:
            return None
    return node


def _message(key, value, low, high, note) -> str:
    if high is None:
        expected = f">= {low}"
    else:
        expected = f"in [{low}, {high:,}]" if high >= 10**6 else f"in [{low}, {high}]"
    text = f"{key} must be {expected}, got {value!r}"
    if len(repr(value)) > 30:
        text = f"{key} must be {expected}, got a {len(str(abs(value)))}-digit number"
    return text + (f" ({note})" if note else "")
