"""What every training process does around the scheduler's per-process function: pick
its GPU, join the process group, run, leave.

:func:`spawned_worker` is the entry point of the processes ``--num-gpus N`` starts (via
``torch.multiprocessing.start_processes``); :func:`run_joined` is the same for a
process that torchrun or srun started. After :func:`join_group` the rest of the engine
reads rank and world size from ``torch.distributed`` (``engine.utils.comm``) and works
the same in every mode.
"""
import importlib
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Sequence, Tuple

import torch
import torch.distributed as dist

from ..trainer.preemption import EXIT_CODES
from ..utils import comm
from ..utils.errors import EXIT_BAD_INPUT, EngineError
from ..utils.logger import log_to_files
from .failures import record_failure

__all__ = ["GroupPlan", "join_group", "leave_group", "spawned_worker", "run_joined", "cuda_index_for"]

EXIT_INTERRUPTED = EXIT_CODES[signal.SIGINT]


@dataclass(frozen=True)
class GroupPlan:
    """Everything a process needs to join the group (picklable: sent to spawned workers)."""

    backend: str                 # 'nccl' (CUDA) or 'gloo' (CPU)
    init_method: str             # 'tcp://HOST:PORT' or 'env://'
    world_size: int
    local_size: int              # processes on this machine
    device_type: str             # 'cuda' or 'cpu'
    timeout_s: float             # trainer.dist_timeout
    rank_offset: int = 0         # global rank of local rank 0 (spawn: machine_rank x local_size)
    modules: Tuple[str, ...] = ()  # to import first (registrations made in the parent)
    failure_dir: str = ""        # where a failing worker leaves its record (failures.py)
    threads: int = 0             # torch.set_num_threads in each worker (0: leave as is)


def cuda_index_for(local_rank: int) -> int:
    """The GPU of the process with this local rank: GPU ``local_rank``, or the only
    visible one when the launcher gave each process its own (``srun --gpus-per-task``)."""
    count = torch.cuda.device_count()
    if local_rank < count:
        return local_rank
    if count == 1:
        return 0
    raise EngineError(
        f"local rank {local_rank} has no GPU: {count} GPU(s) are visible on this machine; "
        f"start at most {count} processes per machine"
    )


def elastic_attempt_store(plan: GroupPlan, rank: int, timeout: timedelta):
    """Under torchrun's agent store (``TORCHELASTIC_USE_AGENT_STORE``), the store of this
    restart attempt: the agent's store is the same one across ``--max-restarts``
    attempts, so without a prefix the processes of a restarted group read the addresses
    the dead ones published (gloo: "Connection refused", or a hang). None elsewhere."""
    if plan.init_method != "env://" or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), plan.world_size,
                          is_master=False, timeout=timeout)
    return dist.PrefixStore(f"/engine/attempt_{attempt}", store)


def join_group(rank: int, local_rank: int, plan: GroupPlan) -> None:
    if plan.device_type == "cuda":
        torch.cuda.set_device(cuda_index_for(local_rank))
    comm.set_local_info(local_rank, plan.local_size)
    if plan.world_size > 1 and not (dist.is_available() and dist.is_initialized()):
        try:
            timeout = timedelta(seconds=float(plan.timeout_s))
            store = elastic_attempt_store(plan, rank, timeout)
            if store is not None:
                dist.init_process_group(plan.backend, store=store, rank=rank, world_size=plan.world_size,
                                        timeout=timeout)
            else:
                dist.init_process_group(plan.backend, init_method=plan.init_method, rank=rank,
                                        world_size=plan.world_size, timeout=timeout)
        except dist.DistStoreError as e:  # the others never came, or the address is wrong
            raise EngineError(
                f"process {rank} could not meet the other {plan.world_size - 1} process(es) at "
                f"{plan.init_method} within trainer.dist_timeout={plan.timeout_s:g}s ({e}); check that "
                f"every machine was started with the same --dist-url and --num-machines"
            ) from None


def leave_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    comm.set_local_info(0, 1)


def _import_all(modules: Sequence[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the registry error later names what is missing
            pass


def spawned_worker(local_rank: int, main: Callable, args: tuple, plan: GroupPlan) -> None:
    """Entry point of a process started by ``--num-gpus N`` (called as fn(i, *args))."""
    rank = plan.rank_offset + local_rank
    _import_all(plan.modules)
    if plan.threads:
        torch.set_num_threads(plan.threads)
    try:
        join_group(rank, local_rank, plan)
        main(*args)
    except EngineError as e:
        record_failure(plan.failure_dir, rank, "engine", str(e))
        log_to_files(f"error: {e}")
        sys.exit(EXIT_BAD_INPUT)  # the parent prints the message once
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once (the launcher reports it)
        sys.exit(EXIT_INTERRUPTED)
    except Exception:
        text = traceback.format_exc()
        record_failure(plan.failure_dir, rank, "exception", text)
        log_to_files(text.rstrip())
        raise  # torch.multiprocessing records it too and exits 1
    leave_group()


def run_joined(main: Callable, args: tuple, rank: int, local_rank: int, plan: GroupPlan):
    """Run ``main`` in this process as a member of the group (started by torchrun/srun,
    or the one process of its machine); errors propagate to the caller as they are."""
    ok = False
    try:
        join_group(rank, local_rank, plan)
        result = main(*args)
        ok = True
        return result
    finally:
        if ok or not comm.uses_nccl(plan.backend):  # NCCL may block leaving after a failed collective
            leave_group()
