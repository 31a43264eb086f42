"""Console + file logging that coexists with a tqdm progress bar.

Handlers go on the root logger so a user's ``logging.getLogger(__name__)`` lines land in
``log.txt`` too. Console lines are written through ``tqdm.write`` so they never tear the
progress bar. Calling :func:`setup_logger` again (a second run in one process, as tests
do) replaces the handlers it installed before. A log file that can no longer be written
(a full disk) ends the run with one error line, as metrics.jsonl does (:class:`RunLogHandler`).
"""
import logging
import os
import sys
import threading

from tqdm import tqdm

from .storage import storage_error

__all__ = ["setup_logger", "log_to_files", "RunLogHandler"]

_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"
_DATEFMT = "%m/%d %H:%M:%S"


class _TqdmConsoleHandler(logging.StreamHandler):
    def emit(self, record):
        try:
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


class RunLogHandler(logging.FileHandler):
    """log.txt / log.rank<N>.txt. logging answers a failed write with a "--- Logging error
    ---" traceback on stderr for every record, and goes on. A write that fails with an
    OSError (a full disk, a vanished folder) instead ends the run like metrics.jsonl's
    writer does: one StorageError naming the file and what to do, raised once, from the
    logging call of the main thread (a thread's failure is raised at the main thread's
    next record); the file is closed and later records go to the console only."""

    def __init__(self, filename: str):
        super().__init__(filename, encoding="utf-8")
        self.failure = None  # the StorageError, once a write failed
        self._raised = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.failure is None:
            super().emit(record)  # a failure lands in handleError
        elif not self._raised and threading.current_thread() is threading.main_thread():
            self._raised = True
            raise self.failure

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError) or self.failure is not None:
            return super().handleError(record)
        self.failure = storage_error(error, self.baseFilename, "write the log file")
        try:
            self.stream.close()  # its buffered bytes have nowhere to go either
        except (OSError, ValueError):
            pass
        self.stream = None
        if threading.current_thread() is threading.main_thread():
            self._raised = True
            raise self.failure from None


def setup_logger(output_dir: str = "", rank: int = 0, level: int = logging.INFO) -> logging.Logger:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_engine_handler", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    formatter = logging.Formatter(_FORMAT, datefmt=_DATEFMT)

    if rank == 0:
        console = _TqdmConsoleHandler(sys.stdout)
        console.setFormatter(formatter)
        console._engine_handler = True
        root.addHandler(console)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        name = "log.txt" if rank == 0 else f"log.rank{rank}.txt"
        file_handler = RunLogHandler(os.path.join(output_dir, name))
        file_handler.setFormatter(formatter)
        file_handler._engine_handler = True
        root.addHandler(file_handler)
    return logging.getLogger("engine")


def log_to_files(message: str, level: int = logging.ERROR) -> None:
    """Append ``message`` to this process's log file(s) only, not the console (a launcher
    that reports the same failure on the console calls this in its workers)."""
    record = logging.LogRecord("engine", level, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and getattr(handler, "_engine_handler", False) \
                and getattr(handler, "failure", None) is None:  # a file that failed stays quiet
            try:
                handler.emit(record)
            except OSError:  # it fails now: the error being reported is the one to show
                pass
