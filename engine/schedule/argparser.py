"""The command line of train.py (see DESIGN.md, "Command line")."""
import argparse
import sys

__all__ = ["default_argument_parser", "parse_command_line"]

EPILOG = """examples:
  python train.py --config-file cfg.py --num-gpus 1
  python train.py --config-file cfg.py --resume                  # continue the run
  python train.py --config-file cfg.py --eval-only trainer.weights model.pth
  python train.py --config-file cfg.yaml solver.max_iter 1000 trainer.device cpu
  python train.py --config-file cfg.py --num-gpus 2 --distribute --opts solver.max_iter 500
  python train.py --config-file cfg.py --seed 3 --deterministic      # reproducible on GPUs too
"""


def default_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py", allow_abbrev=False, usage="%(prog)s --config-file FILE [options] [KEY VALUE ...]", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train (or evaluate) a model described by a .py or .yaml config.",
    )
    parser.add_argument("--config-file", required=True, metavar="FILE", help="a .py or .yaml config")
    parser.add_argument("--num-gpus", type=int, default=1,
                        help="worker processes per machine (one per GPU; CPU processes when trainer.device is cpu)")
    parser.add_argument("--num-machines", type=int, default=1, help="machines taking part")
    parser.add_argument("--machine-rank", type=int, default=0, help="this machine's rank, 0..num-machines-1")
    parser.add_argument("--dist-url", default="auto",
                        help="tcp://HOST:PORT of machine 0, or 'auto' (a free local port, one machine)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run directory's last complete checkpoint (fresh start if none)")
    parser.add_argument("--eval-only", action="store_true", help="evaluate and exit; no training")
    parser.add_argument("--distribute", action="store_true",
                        help="the seed's flag: one process per GPU (DDP); refused with trainer.parallel dp")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="the same as the override 'seed N'")
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic algorithms only (slower; see doc/resume.md)")
    return parser


def parse_command_line(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Flags may appear anywhere; every other token is a ``KEY VALUE`` override, in order.

    ``--opts`` (the seed's spelling) only marks where overrides start: ``--opts KEY VALUE``
    is the same as ``KEY VALUE``. ``--seed N`` is applied after every other override."""
    argv = [t for t in (sys.argv[1:] if argv is None else list(argv)) if t != "--opts"]
    args, opts = parser.parse_known_args(argv)
    unknown_flags = [t for t in opts[0::2] if t.startswith("--")]
    if unknown_flags:
        parser.error(f"unknown option {unknown_flags[0]}")
    if args.seed is not None:
        opts += ["seed", str(args.seed)]
    args.opts = opts
    return args
