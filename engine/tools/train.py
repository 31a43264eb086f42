"""engine-train: train (or evaluate) from a config alone, without a train.py of one's own.

    engine-train --config-file cfg.py
    engine-train --config-file cfg.py --num-gpus 2 solver.max_iter 1000
    engine-train --config-file output/run/config.yaml --resume
    python -m engine.tools.train --config-file cfg.py

The command line of train.py (doc/getting_started.md): flags, then KEY VALUE overrides;
it runs BaseScheduler().schedule() as train.py does. What the config names is the
engine's (ImageFolderDataset, 'torchvision.resnet18', ClassificationModel, ...) or a
project's, registered by the modules the config's custom_imports lists (and by `codes`
from the current folder when there is one, as for the other tools). The run records
those modules in its config.yaml, so engine-test, engine-export and the Predictor find
them too (doc/tools.md).
"""
import sys

__all__ = ["main"]


def main(argv=None) -> int:
    from .cli import import_project
    from ..schedule.scheduler import BaseScheduler
    from ..utils.errors import EXIT_BAD_INPUT, EngineError

    try:
        import_project()
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    scheduler = BaseScheduler()
    scheduler.parser.prog = "engine-train"
    scheduler.parser.epilog = __doc__.split("\n\n", 2)[1]
    scheduler.schedule(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
