"""Train (or evaluate) a project: `python train.py --config-file cfg.py --num-gpus N`.

Importing `codes` registers the project's datasets, networks and models; the scheduler
does everything else. A per-project docker image uses this file as its ENTRYPOINT.
"""
from codes import *  # noqa: F401,F403  (registration: must happen before scheduling)
from engine.schedule.scheduler import BaseScheduler

if __name__ == "__main__":
    BaseScheduler().schedule()
