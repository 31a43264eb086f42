import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.schedule.scheduler import BaseScheduler
import inst_project  # noqa: F401


if __name__ == '__main__':
    BaseScheduler().schedule()
