"""Stopping cleanly on SIGTERM / SIGINT: finish the step, save a checkpoint, exit.

While the training loop runs (and only then, and only in the main thread) the trainer
installs :class:`StopSignals`. The first SIGTERM or SIGINT only records the request; the
loop finishes the current step (its periodic log, evaluation and checkpoint included),
saves ``model_<iteration>.pth`` (``last_checkpoint`` updated), closes its writers and
raises :class:`TrainingInterrupted`, a ``SystemExit`` with a documented status:

    SIGTERM -> 143 (128 + 15)      SIGINT -> 130 (128 + 2)

Non-zero on purpose: the run is *not* finished, so a supervisor that restarts failed
workers (torchrun ``--max-restarts``, a Kubernetes Job, a Slurm requeue script) restarts
it, and ``train.py ... --resume`` continues from that checkpoint. See doc/resume.md.

A second SIGINT while stopping (Ctrl-C twice) raises ``KeyboardInterrupt`` at once: the
checkpoint being written is abandoned (its temporary file is removed; the write is
atomic) and the previous complete one stays the newest. A second SIGTERM is ignored.

With several processes every rank must stop after the same step (the others would wait
forever in the next collective), so :meth:`StopSignals.requested` agrees across ranks.
"""
import os
import signal
import threading
from contextlib import contextmanager
from typing import Dict, Optional

from ..utils import comm

__all__ = ["StopSignals", "TrainingInterrupted", "EXIT_CODES"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_CODES: Dict[int, int] = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 128 + signal.SIGINT}


class TrainingInterrupted(SystemExit):
    """Raised by the trainer after it saved a checkpoint on SIGTERM/SIGINT; its ``code``
    is the process exit status (143 for SIGTERM, 130 for SIGINT)."""

    def __init__(self, signum: int, iteration: int, checkpoint: Optional[str]):
        super().__init__(EXIT_CODES.get(signum, 1))
        self.signal_name = signal.Signals(signum).name
        self.iteration = iteration
        self.checkpoint = checkpoint


class StopSignals:
    """Records the first SIGTERM/SIGINT while :meth:`installed` is active."""

    def __init__(self):
        self.received: Optional[int] = None  # the first stop signal, a signal number
        self._previous = {}

    @contextmanager
    def installed(self):
        """Install the handlers for the block (main thread only), then put back the
        previous ones. Elsewhere (a worker thread) it does nothing."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous = {}

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            _say(f"\n{name} received: finishing the current step, then saving a checkpoint and "
                 f"exiting (status {EXIT_CODES[signum]})"
                 + ("; press Ctrl-C again to stop at once without saving\n" if signum == signal.SIGINT else "\n"))
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt(f"second {name} while stopping")
        _say(f"\n{name} received again: already stopping\n")

    def requested(self) -> Optional[int]:
        """The stop signal if this or any other process received one, else None.
        A collective when several processes train: call it on every rank, once per step."""
        agreed = comm.any_rank(self.received or 0)
        if agreed and self.received is None:
            self.received = agreed  # another rank was signalled
        return agreed or None


def _say(message: str) -> None:
    """Write from a signal handler without the logging locks (stderr, unbuffered)."""
    try:
        os.write(2, message.encode("utf-8", "replace"))
    except OSError:
        pass
