"""The seed's ``engine.multiprocess.MultiProcess``: split a list of work items over N
processes, each running the subclass's ``execute``.

Usage (the seed's README)::

    class Resize(MultiProcess):
        def execute(self, args=()):
            sources, number, extra = args   # this process's items, its number, schedule's args
            ...

    Resize().schedule(nthread=8, data_source_list=files, args=(size,))
"""
import abc
import multiprocessing
import sys
from typing import List, Sequence

__all__ = ["MultiProcess"]


def _start_method():
    """fork where there is fork: the seed was written for it (an ``execute`` defined in
    a script, state set up in ``__init__`` reach the workers without pickling)."""
    return "fork" if sys.platform.startswith("linux") else None


def split_sources(data_source_list: Sequence, nthread: int) -> List[list]:
    """The seed's split: ``len // nthread`` consecutive items each, then the remainder
    (the last items) dealt one by one to the first processes."""
    total = len(data_source_list)
    per, rest = divmod(total, nthread)
    parts = [list(data_source_list[i * per:(i + 1) * per]) for i in range(nthread)]
    for i, item in enumerate(data_source_list[total - rest:] if rest else []):
        parts[i].append(item)
    return parts


class MultiProcess(abc.ABC):
    def __init__(self):
        return

    def schedule(self, nthread, data_source_list, args=()):
        """Run ``execute([items, number, args])`` in ``nthread`` processes and wait.

        Raises RuntimeError when there are fewer items than processes (as the seed), and
        when a process failed: the seed ignored its exit status, so a crashed share of
        the work went unnoticed."""
        if nthread <= 0:
            raise ValueError(f"nthread must be a positive integer, got {nthread}")
        if len(data_source_list) < nthread:
            raise RuntimeError(
                f"data source total num {len(data_source_list)} less than nthread {nthread}")
        context = multiprocessing.get_context(_start_method())
        processes = [
            context.Process(target=self.execute, name=f"task_schedule{number}",
                            args=([part, number, args],))
            for number, part in enumerate(split_sources(data_source_list, nthread))
        ]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
        failed = [f"{p.name} (exit status {p.exitcode})" for p in processes if p.exitcode != 0]
        if failed:
            raise RuntimeError(f"{type(self).__name__}.execute failed in: {', '.join(failed)}")
        return

    @abc.abstractmethod
    def execute(self, args=()):
        return
