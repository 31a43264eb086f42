"""The engine's DataLoader: workers that never outlive the run, errors that name the sample.

Why a run used to hang after an error with ``num_workers > 0``: the workers ignore
SIGTERM (build.py: the main process decides when they stop), and the loader's iterator,
which shuts them down when it is freed, stays alive as long as the traceback that
references it (``run_step``'s frame holds ``batches``). At exit ``multiprocessing``
then sends the workers SIGTERM, which they ignore, and joins them: forever. So:

* torch's SIGCHLD handler is not used (see ``_get_iterator``);
* every iterator with workers registers a ``multiprocessing`` finalizer that runs before
  that join (at interpreter exit, and in a spawned DDP process's own exit): it asks the
  workers to stop, waits :data:`STOP_GRACE_S`, then SIGKILLs those still running (they
  only read data; nothing of theirs needs saving);
* an error out of the loader stops its workers at once and is re-raised as a
  :class:`~engine.data.failures.DataLoadingError` that names the sample: the one whose
  ``__getitem__`` raised, or the one a worker was loading when it died;
* EngineDataSet batches are checked to be dicts (``check_batch_type``).
"""
import multiprocessing
import signal
import sys
import time
import weakref
from multiprocessing.util import Finalize
from typing import Optional

from torch.utils.data import DataLoader
from torch.utils.data._utils import signal_handling

from ..utils.errors import EngineError
from .device_batches import DevicePrefetcher
from .failures import DataLoadingError, check_batch_type, sample_name, short_message

__all__ = ["EngineLoader", "STOP_GRACE_S", "worker_start_method"]

#: How long workers asked to stop get before SIGKILL.
STOP_GRACE_S = 2.0
#: How often a main process waiting for a batch checks that its workers are alive.
DEATH_CHECK_S = 1.0


def worker_start_method() -> Optional[str]:
    """'fork' on Linux, else the platform's default (see doc/dataset.md#worker-processes).

    Fork starts a worker in milliseconds, from the dataset already in memory; spawn (the
    method a DDP process inherits from ``--num-gpus N``) re-imports torch and the project
    in every worker, seconds each. Forking a process that runs gloo/NCCL threads is safe
    for workers that only load data on the CPU, which is what DataLoader workers do."""
    return "fork" if sys.platform.startswith("linux") else None


def _checking_often(iterator):
    """``iterator._try_get_data`` with DEATH_CHECK_S as its default timeout (a weak
    reference: a cycle would keep the iterator, and its workers, until a gc pass)."""
    ref, method = weakref.ref(iterator), type(iterator)._try_get_data

    def try_get_data(timeout=DEATH_CHECK_S):
        return method(ref(), timeout)
    return try_get_data


def _stop_workers(workers, done_event, index_queues) -> None:
    """Ask the workers to stop, then SIGKILL those still alive after the grace period."""
    try:
        done_event.set()
        for queue in index_queues:
            queue.put(None)
    except Exception:  # noqa: BLE001 - a closed queue: the workers are stopping anyway
        pass
    deadline = time.monotonic() + STOP_GRACE_S
    for w in workers:
        w.join(timeout=max(0.0, deadline - time.monotonic()))
    for w in workers:
        if w.is_alive():
            w.kill()
            w.join(timeout=STOP_GRACE_S)


class EngineLoader(DataLoader):
    """A DataLoader over ``SeededSamples``; ``split`` ('training'/'validation') names
    batches in messages; ``check_batches`` requires dict batches; ``device_stage``
    (device_batches.py) moves each batch to the device one step ahead."""

    def __init__(self, samples, *, split: str, check_batches: bool, device_stage=None, **kwargs):
        workers = int(kwargs.get("num_workers", 0))
        if workers > 0:
            context = multiprocessing.get_context(kwargs.get("multiprocessing_context"))
            samples.loading = context.RawArray("q", [-1] * workers)
        super().__init__(samples, **kwargs)
        self.split, self.check_batches, self.device_stage = split, check_batches, device_stage

    def _get_iterator(self):
        iterator = super()._get_iterator()
        if self.num_workers > 0:
            # Torch's SIGCHLD handler raises a worker's death at whatever line the main
            # process is on; without it the loader finds the dead worker inside next(),
            # where explain() can name the sample, when a wait for data times out: after
            # DEATH_CHECK_S instead of torch's 5 s.
            signal_handling._remove_worker_pids(id(iterator))
            iterator._worker_pids_set = False
            iterator._try_get_data = _checking_often(iterator)
            iterator._engine_stop = Finalize(
                iterator, _stop_workers, exitpriority=100,
                args=(iterator._workers, iterator._workers_done_event, iterator._index_queues))
        return iterator

    def __iter__(self):
        batches = _Batches(self, super().__iter__())
        return batches if self.device_stage is None else DevicePrefetcher(batches, self.device_stage)

    # ------------------------------------------------------------ errors
    def explain(self, error: Exception, iterator) -> Optional[Exception]:
        """The error to raise instead of ``error`` (None: ``error`` as it is). A
        DataLoadingError or an EngineError from a worker (a dataset naming its bad file)
        loses torch's "Caught ... in DataLoader worker" preamble and traceback: the
        message already says what and where, and the traceback stays in the cause."""
        samples = self.dataset
        dead = [(i, w) for i, w in enumerate(getattr(iterator, "_workers", ())) if not w.is_alive()]
        if dead and samples.loading is not None:
            i, w = dead[0]
            index = samples.loading[i]
            what = (f"while loading {sample_name(samples.dataset, index)}" if index >= 0
                    else "between samples")
            return DataLoadingError(
                f"{samples.where}: DataLoader worker {i} (pid {w.pid}) died ({_exit_reason(w.exitcode)}) "
                f"{what}; SIGKILL is often the kernel's out-of-memory killer (see dmesg): lower "
                f"dataloader.num_workers, dataloader.prefetch_factor or the batch size")
        if isinstance(error, (DataLoadingError, EngineError)) and str(error).startswith("Caught "):
            try:
                return type(error)(short_message(error))  # from a worker: drop torch's preamble
            except TypeError:  # an EngineError subclass with another constructor
                return EngineError(short_message(error))
        return None


def _exit_reason(code) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Batches:
    """The loader's iterator, with its workers stopped as soon as an error comes out."""

    def __init__(self, loader: EngineLoader, iterator):
        self._loader, self._iterator = loader, iterator

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._iterator)

    def __next__(self):
        if self._iterator is None:
            raise StopIteration
        try:
            batch = next(self._iterator)
        except StopIteration:
            raise
        except Exception as error:
            better = self._loader.explain(error, self._iterator)
            self.close()
            if better is None:
                raise
            raise better from error
        if self._loader.check_batches:
            check_batch_type(batch, self._loader.split, self._loader.dataset.where)
        return batch

    def close(self) -> None:
        """Stop the workers now (a persistent loader starts new ones next time)."""
        iterator, self._iterator = self._iterator, None
        stop = getattr(iterator, "_engine_stop", None)
        if stop is not None:
            stop()
        if self._loader._iterator is iterator:
            self._loader._iterator = None
