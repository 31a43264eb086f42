"""Train (or evaluate) a project: `python train.py --config-file cfg.py --num-gpus N`.

Importing `codes` registers the project's datasets, networks and models; the scheduler
does everything else. A per-project docker image uses this file as its ENTRYPOINT.
"""
from engine.schedule.string_hashing import run_with_fixed_string_hashing

if __name__ == "__main__":  # schedule() would re-run with PYTHONHASHSEED=0 after the imports;
    run_with_fixed_string_hashing()  # here, before them, a re-run costs ms, not seconds

from codes import *  # noqa: E402,F401,F403  (registration: must happen before scheduling)
from engine.schedule.scheduler import BaseScheduler  # noqa: E402

if __name__ == "__main__":
    BaseScheduler().schedule()
