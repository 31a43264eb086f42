"""Ranges of the engine's numeric keys, checked once the whole config is merged.

Types are checked as each source is merged (loader.merge_checked); whether a value of
the right type makes sense is checked here, before anything is written or launched, so
that ``solver.test_per_batch 0`` fails in the first second instead of after training,
at the final evaluation, and ``solver.max_iter 10**30`` never reaches the run directory.

Upper bounds are far beyond any real run; they exist so that an extra digit or an
exponent typed by mistake fails with a message instead of an overflow or a machine
running out of memory.

Every other number of the tree (the free sections too: optimizer params, losses,
transforms) gets the check no setting can do without: a float must be finite (YAML's
``.inf``/``.nan``, ``float('inf')``) and within float32's range, and an int within
int64's, since the values end up in tensors and counters of those types (``lr 1e308``
otherwise overflows inside the optimizer's first step, ``lr .inf`` trains one NaN step).
"""
import math
from typing import Any, Iterator, Optional, Tuple

from ..utils.errors import ConfigError

__all__ = ["check_values", "RANGES", "FLOAT32_MAX"]

MAX_SEED = 2**63 - 1       # the seeds derived per sample are 63-bit (engine/utils/rng.py)
MAX_ITER = 10**9
MAX_BATCH = 2**20
FLOAT32_MAX = 3.4028234663852886e38  # torch.finfo(torch.float32).max
INT64_MAX = 2**63 - 1

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
    for key, value in _numbers(cfg, ""):
        _check_number(key, value)


def _numbers(node: Any, path: str) -> Iterator[Tuple[str, Any]]:
    """Every int and float of the tree with its dotted key (list items as ``[i]``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(value, f"{path}.{str(key).lower()}" if path else str(key).lower())
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _numbers(value, f"{path}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, node


def _check_number(key: str, value) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    if isinstance(value, float) and abs(value) > FLOAT32_MAX:
        raise ConfigError(f"{key} = {value:g} is beyond the float32 range (+-{FLOAT32_MAX:.1e}) of the tensors "
                          f"it goes into: it would overflow (an exponent typed wrong?)")
    if isinstance(value, int) and abs(value) > INT64_MAX:
        raise ConfigError(f"{key} = a {len(str(abs(value)))}-digit number is beyond the int64 range of the "
                          f"tensors and counters it goes into (an extra digit typed?)")


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
