"""The seed's ``engine.log.logger.setup_logger`` on top of the engine's logging.

The seed gives a named logger its own console and file handlers and stops propagation.
The engine instead puts one console handler and the run's ``log.txt`` on the root logger
(``engine.utils.logger``). Both must agree whatever the order of the calls: a project
that sets up ``cfg.OUTPUT_LOG_NAME`` this way, before or during a run, has its lines in
that run's ``log.txt`` and on the console once.

So the named logger gets a single router handler. While the engine's handlers are
installed (a run), a record goes to them, at the run's level, and the seed's handlers
stay silent; otherwise (a script or tool outside a run) it goes to the handlers the seed
would have made: stdout on rank 0, and ``output`` (a ``.txt``/``.log`` file, or
``output/log.txt``, ``.rank{N}`` appended on other ranks). A file named explicitly that
is not the run's own log keeps being written during a run as well.
"""
import logging
import os
import sys
from typing import List, Optional

__all__ = ["setup_logger"]

_PLAIN = "[%(asctime)s.%(msecs)03d] %(name)s %(levelname)s: %(message)s"
_DATEFMT = "%m/%d %H:%M:%S"
_GREEN, _RED, _BLINK, _UNDERLINE, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[5m", "\x1b[4m", "\x1b[0m"


class _ColorfulFormatter(logging.Formatter):
    def formatMessage(self, record):
        log = super().formatMessage(record)
        if record.levelno == logging.WARNING:
            return f"{_RED}{_BLINK}WARNING{_RESET} {log}"
        if record.levelno >= logging.ERROR:
            return f"{_RED}{_BLINK}{_UNDERLINE}ERROR{_RESET} {log}"
        return log


def _engine_handlers() -> List[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_engine_handler", False)]


def _run_log_files(handlers) -> set:
    return {os.path.abspath(h.baseFilename) for h in handlers if isinstance(h, logging.FileHandler)}


class _RouterHandler(logging.Handler):
    """The one handler :func:`setup_logger` puts on a logger (see the module docstring)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.console: Optional[logging.Handler] = None
        self.files = {}  # path -> (handler, named explicitly)

    def emit(self, record):
        engine = _engine_handlers()
        if engine:
            if record.levelno >= logging.getLogger().getEffectiveLevel():
                for h in engine:
                    if record.levelno >= h.level:
                        h.handle(record)
            run_logs = _run_log_files(engine)
            targets = [h for path, (h, explicit) in self.files.items()
                       if explicit and path not in run_logs]
        else:
            targets = [h for h, _ in self.files.values()]
            if self.console is not None:
                targets.append(self.console)
        for h in targets:
            if record.levelno >= h.level:
                h.handle(record)


def _router(logger: logging.Logger) -> _RouterHandler:
    for h in logger.handlers:
        if isinstance(h, _RouterHandler):
            return h
    router = _RouterHandler()
    logger.addHandler(router)
    return router


class _LazyFile(logging.FileHandler):
    """Opened at its first line: a file the run's log stands in for is never created."""

    def __init__(self, path: str):
        super().__init__(path, mode="a", encoding="utf-8", delay=True)

    def _open(self):
        os.makedirs(os.path.dirname(self.baseFilename), exist_ok=True)
        return super()._open()


def setup_logger(output=None, distributed_rank=0, *, color=True, name="engine") -> logging.Logger:
    """The logger ``name`` at DEBUG, writing to stdout (rank 0) and to ``output``.

    Calling it again adds nothing already there (the seed's lru_cache only caught
    identical arguments: ``color`` flipped doubled every console line)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    router = _router(logger)
    if distributed_rank == 0 and router.console is None:
        console = logging.StreamHandler(stream=sys.stdout)
        if color:
            console.setFormatter(_ColorfulFormatter(
                f"{_GREEN}[%(asctime)s.%(msecs)03d %(name)s]: {_RESET}%(message)s", datefmt=_DATEFMT))
        else:
            console.setFormatter(logging.Formatter(_PLAIN, datefmt=_DATEFMT))
        router.console = console
    if output is not None:
        explicit = output.endswith(".txt") or output.endswith(".log")
        filename = output if explicit else os.path.join(output, "log.txt")
        if distributed_rank > 0:
            filename = f"{filename}.rank{distributed_rank}"
        path = os.path.abspath(filename)
        if path not in router.files:
            handler = _LazyFile(path)
            handler.setFormatter(logging.Formatter(_PLAIN, datefmt=_DATEFMT))
            router.files[path] = (handler, explicit)
    return logger
