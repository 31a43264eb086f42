"""Choosing how to run: one process, DataParallel in one process, or a process group
(DistributedDataParallel) across GPUs, CPU processes and machines.

The scheduler calls :func:`launch` with its per-process function. In order:

1. **Joined.** A process started by torchrun or srun (``engine/schedule/cluster_env.py``;
   torchrun's variables > Slurm's > the flags) joins the group its launcher describes
   and runs the function itself. ``--num-gpus/--num-machines/--machine-rank/--dist-url``
   are then ignored (a note says so when they were given).
2. **DataParallel** (``trainer.parallel: 'dp'``): one process on one machine drives
   ``--num-gpus`` CUDA GPUs.
3. **One process** (``--num-gpus 1 --num-machines 1``): the function runs here.
4. **Spawned.** ``--num-gpus N`` processes per machine (torch.multiprocessing, start
   method ``spawn``) join one group of ``N x --num-machines`` at ``--dist-url``: NCCL on
   CUDA, gloo with ``trainer.device='cpu'``. Global rank = machine_rank x N + local rank.
   With ``--num-gpus 1`` on several machines nothing is spawned: the launching process
   is the machine's one worker.

Every request is checked before anything starts (one ``EngineError`` each: more GPUs than
exist, CUDA asked for but absent, more than 4 CPU processes per core, a bad URL, a busy
port on machine 0, ``auto`` with several machines, a machine rank out of range; more CPU
processes than cores is a warning), and a worker's failure ends the others
and is reported once (``engine/schedule/failures.py``).
"""
import dataclasses
import os
import pickle
import shutil
import signal
import sys
import tempfile
from typing import Callable

import torch
import torch.multiprocessing as mp

from ..trainer.preemption import EXIT_CODES
from ..utils import comm
from ..utils.device import parse_device_spec
from ..utils.errors import EngineError
from ..utils.registry import registered_modules
from .cluster_env import detect_launcher_group
from .dist_url import resolve_dist_url
from .failures import report_worker_failure
from .string_hashing import FIXED_SEED
from .worker import GroupPlan, run_joined, spawned_worker

__all__ = ["launch", "PARALLEL_MODES", "GRACE_PERIOD_S"]

PARALLEL_MODES = ("ddp", "dp")
# After one worker fails: how long the others get to stop on their own, then (after
# SIGTERM) again before SIGKILL. Bounds the time a failed run takes to end to ~2x this,
# whatever a worker is stuck in (a collective, a SIGTERM handler that waits for a step).
GRACE_PERIOD_S = 10.0
# CPU worker processes per core beyond which --num-gpus is refused (trainer.device cpu)
CPU_PROCESSES_PER_CORE = 4

_FLAG_DEFAULTS = (("--num-gpus", 1), ("--num-machines", 1), ("--machine-rank", 0), ("--dist-url", "auto"))


def launch(main: Callable, num_gpus_per_machine: int, num_machines: int = 1,
           machine_rank: int = 0, dist_url: str = "auto", args=(), *, device: str = "auto",
           parallel: str = "ddp", timeout: float = 1800, sync_bn: bool = False,
           cpu_collectives: bool = False):
    """Run ``main(*args)`` in every process of the run; returns its result when it ran
    in this process (one process, DataParallel, joined), else None. ``cpu_collectives``:
    a CUDA run's group also takes CPU tensors (comm.group_backend)."""
    parallel = str(parallel or "ddp").strip().lower()
    if parallel not in PARALLEL_MODES:
        raise EngineError(f"trainer.parallel must be 'ddp' or 'dp', got {parallel!r}")
    if float(timeout) <= 0:
        raise EngineError(f"trainer.dist_timeout must be > 0 seconds, got {timeout}")
    kind = parse_device_spec(device)  # bad string / CUDA absent: refused here, in every mode

    group = detect_launcher_group()
    if group is not None and group.world_size > 1:
        return _run_in_launcher_group(main, args, group, kind, parallel, timeout, sync_bn, cpu_collectives,
                                      (num_gpus_per_machine, num_machines, machine_rank, dist_url))

    if num_gpus_per_machine < 1 or num_machines < 1:
        raise EngineError(
            f"--num-gpus ({num_gpus_per_machine}) and --num-machines ({num_machines}) must be >= 1"
        )
    if not 0 <= machine_rank < num_machines:
        raise EngineError(f"--machine-rank {machine_rank} must be in [0, {num_machines - 1}]")

    if parallel == "dp":
        return _run_data_parallel(main, args, num_gpus_per_machine, num_machines, kind)

    world_size = num_gpus_per_machine * num_machines
    if kind.type == "cuda":
        _check_gpus(kind, num_gpus_per_machine, world_size)
    if world_size == 1:
        comm.set_local_info(0, 1)
        return main(*args)
    backend = _group_backend(kind, sync_bn, cpu_collectives)
    url = resolve_dist_url(dist_url, num_machines, machine_rank)
    if num_gpus_per_machine == 1:  # one process on this machine: it is the worker
        plan = GroupPlan(backend=backend, init_method=url, world_size=world_size, local_size=1,
                         device_type=kind.type, timeout_s=float(timeout))
        return run_joined(main, args, machine_rank, 0, plan)
    if kind.type == "cpu":
        _check_cpu_processes(num_gpus_per_machine)
    _check_picklable(main, args)
    # string hashing fixed for the workers (string_hashing.py; this process re-ran with it
    # unless its arguments came from code): a dataset whose order comes from a set of
    # file names (as seed projects build them) is then the same list on every rank
    os.environ.setdefault("PYTHONHASHSEED", FIXED_SEED)
    threads = 0
    if "OMP_NUM_THREADS" not in os.environ:  # N workers share the cores (torchrun sets 1)
        threads = max(1, usable_cores() // num_gpus_per_machine)
    plan = GroupPlan(
        backend=backend, init_method=url, world_size=world_size, local_size=num_gpus_per_machine,
        device_type=kind.type, timeout_s=float(timeout),
        rank_offset=machine_rank * num_gpus_per_machine, modules=tuple(registered_modules()),
        threads=threads,
    )
    _spawn(main, args, plan)
    return None


# ---------------------------------------------------------------------- the modes
def _run_in_launcher_group(main, args, group, kind, parallel, timeout, sync_bn, cpu_collectives, flags):
    if parallel == "dp":
        raise EngineError(
            f"trainer.parallel 'dp' runs one process, but {group.launcher} started "
            f"{group.world_size}: use trainer.parallel ddp (the default) under torchrun/Slurm"
        )
    backend = _group_backend(kind, sync_bn, cpu_collectives)
    if kind.type == "cuda" and kind.index is not None:
        raise EngineError(
            f"trainer.device {str(kind)!r} names one GPU, but {group.launcher} started several "
            f"processes: use trainer.device cuda (each process takes the GPU of its local rank)"
        )
    given = [f"{name} {value}" for (name, default), value in zip(_FLAG_DEFAULTS, flags) if value != default]
    if given and group.rank == 0:
        print(f"note: started by {group.launcher} ({group.world_size} processes); "
              f"{', '.join(given)} ignored", file=sys.stderr, flush=True)
    plan = GroupPlan(
        backend=backend, init_method=group.init_method,
        world_size=group.world_size, local_size=group.local_size, device_type=kind.type,
        timeout_s=float(timeout),
    )
    return run_joined(main, args, group.rank, group.local_rank, plan)


def _group_backend(kind: torch.device, sync_bn: bool, cpu_collectives: bool = False) -> str:
    """comm.group_backend's choice; SyncBatchNorm only on CUDA."""
    if sync_bn and kind.type != "cuda":
        raise EngineError("trainer.ddp.sync_bn needs CUDA (SyncBatchNorm has no CPU kernel); "
                          "set it False for trainer.device cpu")
    return comm.group_backend(kind, cpu_collectives)


def _run_data_parallel(main, args, num_gpus, num_machines, kind):
    if num_machines > 1:
        raise EngineError(
            f"trainer.parallel 'dp' (DataParallel) runs on one machine; --num-machines is "
            f"{num_machines}: use trainer.parallel ddp for several machines"
        )
    if num_gpus > 1:
        if kind.type != "cuda":
            raise EngineError(
                f"trainer.parallel 'dp' (DataParallel) needs CUDA GPUs, but trainer.device is "
                f"{str(kind)!r}: use trainer.parallel ddp (CPU processes) or trainer.device cuda"
            )
        _check_gpus(kind, num_gpus, num_gpus)
    comm.set_local_info(0, 1, gpus_per_process=num_gpus)
    try:
        return main(*args)
    finally:
        comm.set_local_info(0, 1)


def _check_gpus(kind: torch.device, per_machine: int, total: int) -> None:
    count = torch.cuda.device_count()
    if kind.index is not None and total > 1:
        raise EngineError(
            f"trainer.device {str(kind)!r} names one GPU, but --num-gpus is {per_machine}: use "
            f"trainer.device cuda (process i takes GPU i; choose GPUs with CUDA_VISIBLE_DEVICES)"
        )
    if per_machine > count:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise EngineError(
            f"--num-gpus {per_machine}, but only {count} GPU(s) are visible on this machine"
            + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else "")
        )


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask; a container's CPU set)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_cpu_processes(count: int) -> None:
    """CPU worker processes share this machine's cores, and each holds its own copy of the
    model, the data and the loader: more processes than cores only add memory (64 digits
    workers on 2 cores took 17 GB in 45 s and trained nothing). Above
    ``CPU_PROCESSES_PER_CORE`` per core: refused; above one per core: a warning."""
    cores = usable_cores()
    if count > CPU_PROCESSES_PER_CORE * cores:
        raise EngineError(
            f"--num-gpus {count} with trainer.device cpu starts {count} CPU processes, but this machine "
            f"gives this run {cores} core(s): at most {CPU_PROCESSES_PER_CORE * cores} "
            f"({CPU_PROCESSES_PER_CORE} per core) are allowed, and more than {cores} only adds memory (each "
            f"process holds a copy of the model and the data); use --num-gpus {cores} or fewer")
    if count > cores:
        print(f"warning: --num-gpus {count} with trainer.device cpu: {count} CPU processes share {cores} core(s); "
              f"they compete for them (no faster than {cores} process(es)) and each holds a copy of the model "
              f"and the data", file=sys.stderr, flush=True)


def _check_picklable(main, args) -> None:
    """Spawned workers receive the function and the parsed config by pickle."""
    try:
        pickle.dumps((main, args))
    except Exception as e:  # noqa: BLE001
        owner = getattr(main, "__self__", None)
        what = type(owner).__name__ if owner is not None else getattr(main, "__qualname__", repr(main))
        raise EngineError(
            f"{what} can not be sent to the worker processes ({type(e).__name__}: {e}); define "
            f"it at the top level of a module (train.py is fine) and keep objects that do not "
            f"pickle out of its attributes"
        ) from None


def _spawn(main, args, plan: GroupPlan) -> None:
    failure_dir = tempfile.mkdtemp(prefix="engine-workers-")
    plan = dataclasses.replace(plan, failure_dir=failure_dir)
    context = mp.start_processes(spawned_worker, args=(main, args, plan), nprocs=plan.local_size,
                                 join=False, start_method="spawn")
    interrupts = []

    def forward_sigterm(signum, frame):  # docker stop / scancel may reach the launcher only
        interrupts.append(signum)
        for process in context.processes:
            if process.is_alive():
                process.terminate()

    def first_sigint_to_workers(signum, frame):
        # Ctrl-C in a terminal reaches every process of the group: the workers stop after
        # their step and save. A second Ctrl-C stops the launcher (and the workers) at once.
        interrupts.append(signum)
        if interrupts.count(signal.SIGINT) > 1:
            raise KeyboardInterrupt

    handlers = {signal.SIGTERM: forward_sigterm, signal.SIGINT: first_sigint_to_workers}
    previous = {sig: signal.signal(sig, h) for sig, h in handlers.items()} if _in_main_thread() else {}
    try:
        while not context.join(grace_period=GRACE_PERIOD_S):
            pass
    except (mp.ProcessRaisedException, mp.ProcessExitedException) as error:
        if signal.SIGTERM in interrupts and getattr(error, "signal_name", None) == "SIGTERM":
            raise SystemExit(EXIT_CODES[signal.SIGTERM]) from None  # stopped before training began
        exit_codes = {plan.rank_offset + i: process.exitcode for i, process in enumerate(context.processes)}
        report_worker_failure(error, failure_dir, plan.rank_offset, exit_codes)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for process in context.processes:  # e.g. a second Ctrl-C in the launcher
            if process.is_alive():
                process.kill()
        shutil.rmtree(failure_dir, ignore_errors=True)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
