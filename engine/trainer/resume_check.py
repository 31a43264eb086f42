"""What a checkpoint records about the data stream, and the checks made on resume.

The position in the data is not stored as a loader state: it is derived. Step ``it``
consumes stream positions ``[it * G, (it + 1) * G)`` with ``G = train_per_batch x
world_size`` (see engine/data/sampler.py), so ``iteration`` alone puts a resumed run at
the first sample the interrupted one had not used. That holds only while ``G``, the
dataset size, the seed and the shuffle flag are those the checkpoint was written with;
each checkpoint therefore stores them (``payload['data']``), and resuming with different
ones is reported: a warning says which samples are skipped or repeated and that the run
is no longer an exact continuation. A changed accumulation count or process count with
the same ``G`` keeps the sample stream (results equal up to floating-point rounding).
"""
import logging
from typing import Any, Dict, List, Optional, Tuple

import yaml

__all__ = ["data_position", "check_data_position", "batch_keeping_stream", "config_changes",
           "report_config_changes"]

logger = logging.getLogger("engine.trainer")


def data_position(cfg, iteration: int, dataset_size: Optional[int], world_size: int) -> Dict[str, Any]:
    batch = int(cfg.SOLVER.TRAIN_PER_BATCH)
    global_batch = batch * world_size
    return {
        "samples_seen": iteration * global_batch,   # stream position of the next step
        "global_batch": global_batch,
        "train_per_batch": batch,
        "world_size": world_size,
        "accumulation": max(1, int(cfg.SOLVER.GRADIENT_ACCUMULATION_BATCH)),
        "dataset_size": dataset_size,
        "seed": int(cfg.SEED),
        "shuffle": bool(cfg.DATALOADER.SHUFFLE),
    }


def batch_keeping_stream(saved: Optional[Dict[str, Any]], cfg, world_size: int) -> Optional[Tuple[int, int]]:
    """``(train_per_batch, accumulation)`` that keep the checkpoint's global batch on
    ``world_size`` processes, when only the process count changed (the config's batch and
    accumulation are the checkpoint's) and the global batch divides; None otherwise.

    The sample stream is a pure function of the seed and the global batch, so with the
    same global batch a run resumed on 1 process continues the 2-process stream exactly:
    what each process did in parallel becomes accumulation micro-batches (of the same
    size: the per-process memory stays what it was)."""
    if not saved or saved.get("world_size") in (None, world_size):
        return None
    batch, accumulation = int(cfg.SOLVER.TRAIN_PER_BATCH), max(1, int(cfg.SOLVER.GRADIENT_ACCUMULATION_BATCH))
    if (saved.get("train_per_batch"), saved.get("accumulation")) != (batch, accumulation):
        return None
    global_batch = int(saved["global_batch"])
    if global_batch % world_size:
        return None
    new_batch, micro = global_batch // world_size, batch // accumulation
    new_accumulation = new_batch // micro if new_batch % micro == 0 else 1
    return new_batch, new_accumulation


def check_data_position(saved: Optional[Dict[str, Any]], now: Dict[str, Any], iteration: int) -> List[str]:
    """Warnings (also logged) about a resume that cannot continue the same sample stream."""
    if not saved:
        return []
    warnings: List[str] = []
    if saved.get("global_batch") != now["global_batch"]:
        warnings.append(
            f"the checkpoint was written with a global batch of {saved.get('global_batch')} "
            f"(solver.train_per_batch {saved.get('train_per_batch')} x {saved.get('world_size')} "
            f"process(es)); this run uses {now['global_batch']} (solver.train_per_batch "
            f"{now['train_per_batch']} x {now['world_size']}). The data stream continues at "
            f"iteration {iteration} x {now['global_batch']} = sample {now['samples_seen']} instead of "
            f"sample {saved.get('samples_seen')}: samples are skipped or repeated and the run is not "
            f"an exact continuation"
        )
    for key, what in (("dataset_size", "training dataset size"), ("seed", "seed"),
                      ("shuffle", "dataloader.shuffle")):
        if key in saved and saved[key] != now[key]:
            warnings.append(
                f"the {what} changed since the checkpoint ({saved[key]} -> {now[key]}): the sample "
                f"order from here on differs from the interrupted run's"
            )
    for message in warnings:
        logger.warning("resume: %s", message)
    if not warnings and (saved.get("accumulation"), saved.get("world_size")) != (now["accumulation"], now["world_size"]):
        logger.info("resume: accumulation x processes changed from %s x %s to %s x %s with the same "
                    "global batch: same samples per step, results equal up to rounding",
                    saved.get("accumulation"), saved.get("world_size"), now["accumulation"], now["world_size"])
    return warnings


def _flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(tree, dict):
        out: Dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{str(key).lower()}."))
        return out
    return {prefix[:-1]: tree}


# Values that change nothing in the training state or the sample stream.
HARMLESS_KEYS = frozenset({
    "trainer.print_config", "dataloader.num_workers", "dataloader.pin_memory", "dataloader.prefetch_factor",
    "trainer.progress_bar", "trainer.log_period", "solver.max_keep", "solver.checkpoint_period",
    "solver.eval_period", "solver.test_per_batch",
})


#: where the run lives and what the scheduler fills in per process: not the run's settings
NOT_SETTINGS = ("output_dir", "output_log_name", "trainer.paradigm.")


def config_changes(saved_yaml: Optional[str], now_yaml: str) -> List[Tuple[str, Any, Any]]:
    """``(key, old, new)`` for every config value that differs from the checkpoint's
    (the run's location and the per-process ``trainer.paradigm`` left out)."""
    if not saved_yaml:
        return []
    try:
        old, new = _flatten(yaml.safe_load(saved_yaml) or {}), _flatten(yaml.safe_load(now_yaml) or {})
    except yaml.YAMLError:
        return []
    missing = "(unset)"
    return [(k, old.get(k, missing), new.get(k, missing))
            for k in sorted(set(old) | set(new))
            if old.get(k, missing) != new.get(k, missing) and not k.startswith(NOT_SETTINGS)]


def report_config_changes(saved_yaml: Optional[str], now_yaml: str) -> List[Tuple[str, Any, Any]]:
    """Log the config values changed since the checkpoint: a warning when any of them can
    change the results (the LR schedule follows solver.max_iter, for instance)."""
    changes = config_changes(saved_yaml, now_yaml)
    if changes:
        text = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes[:20])
        more = f" (and {len(changes) - 20} more)" if len(changes) > 20 else ""
        level = logging.INFO if all(k in HARMLESS_KEYS for k, _, _ in changes) else logging.WARNING
        logger.log(level, "resume: the config differs from the checkpoint's: %s%s", text, more)
    return changes
