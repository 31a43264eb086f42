"""The seed's ``engine.config.parser.default_argument_parser`` as the engine's command line.

A seed project that builds its parser this way (and maybe adds flags of its own) must
accept exactly what ``train.py`` accepts, and find the overrides in ``args.opts`` as the
seed's trailing ``opts`` positional gave them. So the parser is ours
(``engine.schedule.argparser``): same flags, same defaults, and ``parse_args`` splits
flags from ``KEY VALUE`` overrides the way ``train.py`` does (flags anywhere, ``--opts``
optional).
"""
import argparse

from ...schedule.argparser import default_argument_parser as _engine_parser
from ...schedule.argparser import parse_command_line

__all__ = ["default_argument_parser"]


class SeedArgumentParser(argparse.ArgumentParser):
    def parse_args(self, args=None, namespace=None):
        parsed = parse_command_line(self, args)
        if namespace is None:
            return parsed
        for key, value in vars(parsed).items():
            setattr(namespace, key, value)
        return namespace


def default_argument_parser(epilog=None) -> argparse.ArgumentParser:
    """The engine's parser (``epilog``: the seed's argument, the help's closing text)."""
    engine = _engine_parser()
    return SeedArgumentParser(
        parents=[engine], add_help=False, prog=engine.prog, usage=engine.usage,
        description=engine.description, epilog=epilog or engine.epilog,
        formatter_class=engine.formatter_class, allow_abbrev=False,
    )
