"""Where training numbers go: a readable log line, metrics.jsonl, TensorBoard.

Only the main process writes; the trainer builds no writers on other ranks.
"""
import datetime
import json
import logging
import os
import resource
from typing import Dict

import torch

__all__ = ["MetricsWriter", "TensorboardWriter", "PeriodStats", "peak_memory_mb", "format_log_line"]

logger = logging.getLogger("engine.trainer")


class MetricsWriter:
    """metrics.jsonl: one JSON object per logged step or evaluation, flushed each time."""

    def __init__(self, path: str):
        self._file = open(path, "a", encoding="utf-8")

    def write(self, record: Dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TensorboardWriter:
    def __init__(self, log_dir: str):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=log_dir)

    def write(self, prefix: str, scalars: Dict[str, float], step: int) -> None:
        for key, value in scalars.items():
            self._writer.add_scalar(f"{prefix}/{key}", value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class PeriodStats:
    """Means over one logging period (losses, data time, iteration time)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: Dict[str, float] = {}
        self.counts: Dict[str, int] = {}  # per term: a GAN's generator may rest some steps
        self.count = 0
        self.data_time = 0.0
        self.iter_time = 0.0

    def add(self, losses: Dict[str, float], data_time: float, iter_time: float) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        self.count += 1
        self.data_time += data_time
        self.iter_time += iter_time

    def means(self) -> Dict[str, float]:
        """Each loss term's mean over the steps that reported it."""
        return {k: v / self.counts[k] for k, v in self.sums.items()}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def format_log_line(record: Dict, max_iter: int) -> str:
    losses = "  ".join(f"{k}: {v:.4g}" for k, v in record["losses"].items())
    extra = "".join(f"  {k}: {v:.4g}" for k, v in record.get("extra", {}).items())
    eta = str(datetime.timedelta(seconds=int(record["eta_seconds"])))
    mem_kind = "max_mem" if record.get("device") == "cuda" else "max_rss"
    return (
        f"iter: {record['iter']}/{max_iter}  epoch: {record['epoch']}  {losses}  "
        f"lr: {record['lr']:.3g}{extra}  data_time: {record['data_time']:.4f}  "
        f"iter_time: {record['iter_time']:.4f}  eta: {eta}  {mem_kind}: {record['max_mem_mb']:.0f}M"
    )


def open_writers(run_dir: str):
    os.makedirs(run_dir, exist_ok=True)
    return MetricsWriter(os.path.join(run_dir, "metrics.jsonl")), TensorboardWriter(run_dir)
