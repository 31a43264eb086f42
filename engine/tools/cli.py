"""What every command-line tool shares: one ``error:`` line and exit status 2 on bad input.

A tool module defines ``build_parser()`` and ``run(args)``, and ``main(argv=None)``
returns ``run_tool(build_parser(), run, argv)``; it runs as a console script
(setup.py) or as ``python -m engine.tools.<name>``. Usage errors (argparse) also exit 2.
Output piped into a reader that stops early (``engine-ckpt-show ... | head``) ends
quietly with 141 (128 + SIGPIPE, what a shell reports for a tool killed by it).

The tools that load a config register the project's components first
(:func:`import_project`): the ``--import`` modules, and the project package of the
current folder, ``codes`` by default (:data:`PROJECT_PACKAGE`, the seed's layout, which
train.py imports).
"""
import argparse
import importlib
import os
import sys
from typing import Callable, Optional, Sequence

from ..checkpoint.io import check_output_extension
from ..utils.errors import EXIT_BAD_INPUT, EngineError

__all__ = ["run_tool", "EXIT_BAD_INPUT", "EXIT_BROKEN_PIPE", "parser", "import_project", "PROJECT_PACKAGE"]

EXIT_BROKEN_PIPE = 141
PROJECT_PACKAGE = "codes"  # the project package train.py imports (`from codes import *`)


def parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A tool's parser from its module docstring: ``"<module>: <one line>"``, a blank
    line, then the examples shown under ``--help``."""
    lines = doc.split("\n")
    return argparse.ArgumentParser(prog=prog, description=lines[0].split(": ", 1)[-1],
                                   epilog="\n".join(lines[2:]),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def run_tool(arg_parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], None],
             argv: Optional[Sequence[str]] = None) -> int:
    args = arg_parser.parse_args(argv)
    try:
        if getattr(args, "dst", None):  # the tools that write: refuse the name before any work
            check_output_extension(args.dst)
        run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader is gone: send what is still buffered nowhere, so exit prints no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    return 0


def import_project(modules: Sequence[str] = (), package: Optional[str] = PROJECT_PACKAGE) -> None:
    """Register the project's components before the config is loaded: every ``--import``
    module of ``modules``, and ``package`` from the current folder when there is one (the
    seed's layout, for a config that is not a run's; None: none). A run's config.yaml
    needs neither: loading it imports its ``custom_imports``
    (engine/config/custom_imports.py). A module that does not import is one error naming it."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if package:
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as e:
            if e.name != package:
                raise EngineError(f"importing {package} (the project in {os.getcwd()}): {e}") from None
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any failure of the user's module is one line
            raise EngineError(f"--import {name}: {type(e).__name__}: {e}") from None
