"""Console + file logging that coexists with a tqdm progress bar.

Handlers go on the root logger so a user's ``logging.getLogger(__name__)`` lines land in
``log.txt`` too. Console lines are written through ``tqdm.write`` so they never tear the
progress bar. Calling :func:`setup_logger` again (a second run in one process, as tests
do) replaces the handlers it installed before.
"""
import logging
import os
import sys

from tqdm import tqdm

__all__ = ["setup_logger", "log_to_files"]

_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"
_DATEFMT = "%m/%d %H:%M:%S"


class _TqdmConsoleHandler(logging.StreamHandler):
    def emit(self, record):
        try:
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


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
        file_handler = logging.FileHandler(os.path.join(output_dir, name), encoding="utf-8")
        file_handler.setFormatter(formatter)
        file_handler._engine_handler = True
        root.addHandler(file_handler)
    return logging.getLogger("engine")


def log_to_files(message: str, level: int = logging.ERROR) -> None:
    """Append ``message`` to this process's log file(s) only, not the console (a launcher
    that reports the same failure on the console calls this in its workers)."""
    record = logging.LogRecord("engine", level, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and getattr(handler, "_engine_handler", False):
            handler.emit(record)
