"""What every command-line tool shares: one ``error:`` line and exit status 2 on bad input.

A tool module defines ``build_parser()`` and ``run(args)``, and ``main(argv=None)``
returns ``run_tool(build_parser(), run, argv)``; it runs as a console script
(setup.py) or as ``python -m engine.tools.<name>``. Usage errors (argparse) also exit 2.
"""
import argparse
import sys
from typing import Callable, Optional, Sequence

from ..utils.errors import EXIT_BAD_INPUT, EngineError

__all__ = ["run_tool", "EXIT_BAD_INPUT", "parser"]


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
        run(args)
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    return 0
