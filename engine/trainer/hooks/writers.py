"""Where training numbers go: the period's record (:class:`MetricsLogger`), the hook that
owns the writers (:class:`Writers`) and the writers that receive every record: a
readable log line, metrics.jsonl, TensorBoard.

Only the main process writes (Writers hands records to the writers on rank 0 only); the
record is built on every process because the event store's flush is a collective.
"""
import datetime
import logging
import os
import resource
import statistics
import threading
import time
from collections import deque
from typing import Any, Dict, List, Optional, Tuple

import torch

from ...utils import json_values
from .base import HookBase, Priority, WriterHook

__all__ = ["MetricsLogger", "Writers", "ConsoleWriter", "JsonWriter", "TensorboardWriter", "peak_memory_mb",
           "format_log_line", "plotted", "leave_writer_thread_errors_to_the_main_thread", "writer_io", "close_quietly"]

logger = logging.getLogger("engine.trainer")

# record keys that are not scalars to plot
NOT_SCALARS = ("type", "iter", "epoch", "eta_seconds", "max_mem_mb")
TIMES = ("data_time", "iter_time")


class MetricsLogger(HookBase):
    """Every ``trainer.log_period`` steps (and at the last one, or when stopping): the
    event store's means over the period and over processes, with ``lr``, times, ETA and
    memory, as one ``'train'`` record to every writer. A period made only of skipped
    (non-finite) steps writes nothing: its losses would be NaN.

    The ETA is the median of the last ``ETA_WINDOW`` step-to-step times (one step's end to
    the next's) times the steps left. The first step of a session is never among them:
    it includes the loader's worker start-up (seconds), which the period's mean
    ``iter_time`` carries into the first log line (a 10 s run's first ETA read 4:25). The
    median also ignores the steps that evaluated or saved a checkpoint."""

    priority = Priority.LOGGER
    ETA_WINDOW = 50

    def __init__(self, period: int):
        self.period = max(1, int(period))
        self.good_steps = 0  # steps of this period that were not skipped
        self._step_times: "deque[float]" = deque(maxlen=self.ETA_WINDOW)
        self._last_step_end = None

    def seconds_per_step(self, times: Dict[str, float]) -> float:
        """The median recent step time; before there is one (a first log line at the first
        step), the period's compute time without its wait for data (the workers' start)."""
        if self._step_times:
            return statistics.median(self._step_times)
        return max(0.0, times["iter_time"] - times["data_time"])

    def after_step(self) -> None:
        trainer = self.trainer
        done = trainer.iter + 1
        now = time.perf_counter()
        if self._last_step_end is not None:
            self._step_times.append(now - self._last_step_end)
        self._last_step_end = now
        self.good_steps += not trainer.step_result.skipped
        if done % self.period and done != trainer.max_iter and trainer.stop_request is None:
            return
        if not self.good_steps:
            return
        self.good_steps = 0
        values = trainer.event_store.flush()  # every process: one collective
        times = {key: values.pop(key, 0.0) for key in TIMES}
        record = {"type": "train", "iter": done, "epoch": trainer.epoch, **values,
                  **trainer.model.log_values(), **times,
                  "eta_seconds": self.seconds_per_step(times) * (trainer.max_iter - done),
                  "max_mem_mb": peak_memory_mb(trainer.model.device)}
        trainer.write(record)


class Writers(HookBase):
    """Owns the run's writers, as detectron2's PeriodicWriter owns its EventWriters: every
    :class:`WriterHook` among the trainer's hooks is opened, handed each record and closed
    here, on the main process only. ``trainer.write(record)`` hands a record here.

    The writers open at this hook's ``before_train`` and close at its ``after_train``,
    which comes after every other hook's (``Priority.LAST``), so a record written in any
    hook's ``after_train`` (an evaluation in ``after_loop``) still reaches them. A record
    written before they open (an evaluation in ``before_loop``, whose hook runs earlier)
    waits, and goes out first, in order, when they open."""

    priority = Priority.LAST

    def __init__(self):
        self._open: Optional[List[WriterHook]] = None  # the writers opened, while open
        self._waiting: List[Dict[str, Any]] = []       # records written before they opened

    def before_train(self) -> None:
        self.open()

    def after_train(self) -> None:
        self.close()

    def open(self) -> None:
        trainer = self.trainer
        if self._open is not None or trainer is None or trainer.rank != 0:
            return
        os.makedirs(trainer.run_dir, exist_ok=True)
        self._open = []
        for writer in [h for h in trainer.hooks if isinstance(h, WriterHook)]:
            writer_io(writer, writer.open)
            self._open.append(writer)
        waiting, self._waiting = self._waiting, []
        for record in waiting:
            self.write(record)

    def write(self, record: Dict[str, Any]) -> None:
        """Hand ``record`` to every writer (or keep it until they open); nothing on the
        other processes."""
        if self.trainer is None or self.trainer.rank != 0:
            return
        if self._open is None:
            self._waiting.append(record)
            return
        for writer in self._open:
            writer_io(writer, writer.write, record, record.get("iter", 0))

    def write_once(self, record: Dict[str, Any]) -> None:
        """Open the writers, write ``record``, close them (--eval-only's one record)."""
        self.open()
        try:
            self.write(record)
        finally:
            self.close()

    def close(self) -> None:
        writers, self._open = self._open or [], None
        for writer in writers:
            close_quietly(writer)


def writer_io(writer: WriterHook, call, *args) -> None:
    """``call(*args)`` (the writer's open or write); an OSError there (a full disk,
    a vanished or read-only folder) becomes one StorageError naming the writer's file and
    what to do (engine/utils/storage.py), not a traceback. The checkpoints already
    saved are untouched; ``--resume`` continues after the problem is fixed."""
    try:
        call(*args)
    except OSError as e:
        from ...utils.storage import storage_error

        path = getattr(writer, "path", None) or getattr(writer, "log_dir", None) or type(writer).__name__
        raise storage_error(e, path, f"write {type(writer).__name__}'s records to") from None


def close_quietly(writer: WriterHook) -> None:
    """Close ``writer``; an OSError (its last buffered bytes on a full disk) is a warning,
    so it never hides the error that ended the run."""
    try:
        writer.close()
    except OSError as e:
        logger.warning("closing %s: %s", type(writer).__name__, e)


class ConsoleWriter(WriterHook):
    """The log line (log.txt and the console) of each ``'train'`` record."""

    def __init__(self, max_iter: int, device: torch.device):
        self.max_iter, self.device = max_iter, device

    def write(self, record: Dict[str, Any], step: int) -> None:
        if record.get("type") == "train":
            logger.info(format_log_line(record, self.max_iter, self.device))


class JsonWriter(WriterHook):
    """metrics.jsonl: one JSON object per record, flushed each time."""

    def __init__(self, path: str):
        self.path = path
        self._file = None

    def open(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: Dict[str, Any], step: int) -> None:
        self._file.write(json_values.dumps(record) + "\n")  # a NaN loss reads null
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorboardWriter(WriterHook):
    """``train/<name>`` for each scalar of a ``'train'`` record, ``eval/<name>`` for
    each result of an ``'eval'`` one.

    A record is one TensorBoard event holding all its scalars (one ``Summary`` with a value
    per scalar, as TF1's merged summaries were), written by TensorBoard's ``FileWriter``
    and flushed. ``SummaryWriter.add_scalar`` makes an event per scalar: ~50 us each, and
    the flush waits for the writer thread to take every one (12 scalars: 0.94 against 0.17
    ms a record, benchmarks/tensorboard_record.py)."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self._writer = None

    def open(self) -> None:
        from torch.utils.tensorboard.writer import FileWriter

        leave_writer_thread_errors_to_the_main_thread()
        self._writer = FileWriter(self.log_dir)

    def write(self, record: Dict[str, Any], step: int) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        kind = record.get("type")
        if kind not in ("train", "eval"):
            return
        values = [Summary.Value(tag=f"{kind}/{key}", simple_value=value) for key, value in plotted(record)]
        if values:
            self._writer.add_summary(Summary(value=values), step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def plotted(record: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """The ``(key, number)`` pairs of a record that TensorBoard plots: numbers (not bools)
    other than the bookkeeping keys (:data:`NOT_SCALARS`)."""
    return [(key, value) for key, value in record.items()
            if key not in NOT_SCALARS and isinstance(value, (int, float)) and not isinstance(value, bool)]


def leave_writer_thread_errors_to_the_main_thread() -> None:
    """TensorBoard writes its event file from a thread of its own. An OSError there (a
    full disk) is printed by ``threading.excepthook`` as a thread traceback, and raised
    again in the main thread by the next ``add_scalar``/``flush``, where ``writer_io``
    reports it in one line. This filter (installed once, for the process) leaves such
    errors of TensorBoard's writer thread to that report; everything else goes on to the
    hook that was there before."""
    previous = threading.excepthook
    if getattr(previous, "leaves_tensorboard_errors", False):
        return

    def excepthook(args) -> None:
        if issubclass(args.exc_type, OSError) and type(args.thread).__name__ == "_AsyncWriterThread":
            return
        previous(args)

    excepthook.leaves_tensorboard_errors = True
    threading.excepthook = excepthook


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def format_log_line(record: Dict[str, Any], max_iter: int, device: torch.device) -> str:
    values = "  ".join(f"{k}: {v:.4g}" for k, v in record.items()
                       if k not in NOT_SCALARS + TIMES and isinstance(v, (int, float)))
    times = "  ".join(f"{k}: {record[k]:.4f}" for k in TIMES if k in record)
    eta = str(datetime.timedelta(seconds=int(record["eta_seconds"])))
    mem_kind = "max_mem" if device.type == "cuda" else "max_rss"
    return (f"iter: {record['iter']}/{max_iter}  epoch: {record['epoch']}  {values}  {times}  "
            f"eta: {eta}  {mem_kind}: {record['max_mem_mb']:.0f}M")
