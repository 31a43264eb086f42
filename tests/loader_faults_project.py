"""A digits dataset that fails on purpose, for tests/data/test_loader_reliability.py.

``FaultyDigits(fail_at=i)`` raises in ``__getitem__(i)``, ``kill_at=i`` SIGKILLs the
process loading sample i (a DataLoader worker), ``tuple_out=True`` returns tuples instead
of dicts. Run as a script it is train.py with this dataset registered.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import codes  # noqa: E402,F401  (registers the digits example)
from codes.digits.dataset import DigitsDataset  # noqa: E402
from engine.data.build import BUILD_DATASET_REGISTRY  # noqa: E402
from engine.schedule.scheduler import BaseScheduler  # noqa: E402


@BUILD_DATASET_REGISTRY.register()
class FaultyDigits(DigitsDataset):
    def __init__(self, fail_at=-1, kill_at=-1, tuple_out=False, **kwargs):
        super().__init__(**kwargs)
        self.fail_at, self.kill_at, self.tuple_out = fail_at, kill_at, tuple_out

    def describe_sample(self, index):
        return f"digits/{index:04d}.png"

    def __getitem__(self, index):
        if index == self.fail_at:
            raise ValueError(f"cannot decode sample {index}")
        if index == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        sample = super().__getitem__(index)
        return tuple(sample.values()) if self.tuple_out else sample


if __name__ == "__main__":
    BaseScheduler().schedule()


def child(argv, output_path):
    """A run in a forkserver child (tests): stdout/stderr to ``output_path``. It exits as
    a spawned DDP process does, through multiprocessing's exit (which joins the workers):
    where a run with live workers used to hang."""
    import io
    fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
    BaseScheduler().schedule(argv)
