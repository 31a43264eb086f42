"""Recognising a process started by torchrun or by Slurm's srun, which then joins the
group its launcher describes instead of spawning workers.

Precedence, first match wins:

1. **torchrun** (or any launcher that sets the same variables: a Kubernetes PyTorchJob,
   ``torch.distributed.run``): ``RANK`` and ``WORLD_SIZE`` set; ``LOCAL_RANK`` and
   ``LOCAL_WORLD_SIZE`` when present (else 0 and 1); the rendezvous is ``env://``
   (``MASTER_ADDR``/``MASTER_PORT``, required).
2. **Slurm**, one task per process (``srun``): ``SLURM_PROCID`` and
   ``SLURM_STEP_NUM_TASKS`` set. A batch script itself (``sbatch``) is not a step and
   has no ``SLURM_STEP_NUM_TASKS``, so ``python train.py`` run directly in it is not
   mistaken for a member of a group. Rank ``SLURM_PROCID``, world
   ``SLURM_STEP_NUM_TASKS``, local rank ``SLURM_LOCALID``; the rendezvous host is
   ``MASTER_ADDR`` or else the first node of ``SLURM_STEP_NODELIST`` (or
   ``SLURM_JOB_NODELIST``), the port ``MASTER_PORT`` or else one derived from
   ``SLURM_JOB_ID`` (:func:`engine.schedule.slurm.default_port`).
3. Otherwise the command-line flags (``--num-gpus`` ...) decide.

torchrun comes first because ``srun torchrun ...`` sets both and torchrun's variables
describe the processes that actually run. A launcher group of one process (``srun -n 1``,
``torchrun --nproc-per-node 1``) is treated as no group: the flags decide.
"""
import os
from dataclasses import dataclass
from typing import Mapping, Optional

from ..utils.errors import EngineError
from .slurm import default_port, expand_nodelist, expand_tasks_per_node

__all__ = ["JoinedGroup", "from_torchrun_env", "from_slurm_env", "detect_launcher_group"]


@dataclass(frozen=True)
class JoinedGroup:
    """Where this process sits in a group that an outside launcher started."""

    launcher: str        # 'torchrun' or 'slurm'
    rank: int
    world_size: int
    local_rank: int
    local_size: int
    init_method: str     # 'env://' or 'tcp://HOST:PORT'


def _int(env: Mapping[str, str], name: str, default: Optional[int] = None) -> int:
    value = env.get(name)
    if value is None or value == "":
        if default is None:
            raise EngineError(f"environment variable {name} is not set")
        return default
    try:
        return int(value)
    except ValueError:
        raise EngineError(f"environment variable {name}={value!r} is not an integer") from None


def _check(group: JoinedGroup, names: str) -> JoinedGroup:
    if group.world_size < 1:
        raise EngineError(f"{group.launcher}: world size {group.world_size} ({names}) must be >= 1")
    if not 0 <= group.rank < group.world_size:
        raise EngineError(f"{group.launcher}: rank {group.rank} is not in [0, {group.world_size - 1}] ({names})")
    if not 0 <= group.local_rank < max(group.local_size, 1):
        raise EngineError(f"{group.launcher}: local rank {group.local_rank} is not in "
                          f"[0, {group.local_size - 1}] ({names})")
    return group


def from_torchrun_env(env: Mapping[str, str]) -> Optional[JoinedGroup]:
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    world = _int(env, "WORLD_SIZE")
    group = JoinedGroup(
        launcher="torchrun", rank=_int(env, "RANK"), world_size=world,
        local_rank=_int(env, "LOCAL_RANK", 0), local_size=_int(env, "LOCAL_WORLD_SIZE", 1),
        init_method="env://",
    )
    if world > 1:
        missing = [n for n in ("MASTER_ADDR", "MASTER_PORT") if not env.get(n)]
        if missing:
            raise EngineError(
                f"RANK and WORLD_SIZE are set (a torchrun-style launch) but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not: set them to the address and port of rank 0"
            )
        _int(env, "MASTER_PORT")
    return _check(group, "RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE")


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def from_slurm_env(env: Mapping[str, str]) -> Optional[JoinedGroup]:
    if "SLURM_PROCID" not in env or "SLURM_STEP_NUM_TASKS" not in env:
        return None
    world = _int(env, "SLURM_STEP_NUM_TASKS")
    local_size = 1
    per_node = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE")
    if per_node:
        counts = expand_tasks_per_node(per_node)
        node = _int(env, "SLURM_NODEID", 0)
        local_size = counts[node] if node < len(counts) else counts[-1]
    init_method = ""
    if world > 1:
        host = env.get("MASTER_ADDR")
        if not host:
            for name in ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"):
                if env.get(name):
                    host = expand_nodelist(env[name], name)[0]
                    break
            else:
                raise EngineError("Slurm step without a node list: set MASTER_ADDR to the host of rank 0")
        port = _int(env, "MASTER_PORT") if env.get("MASTER_PORT") else default_port(env.get("SLURM_JOB_ID", "0"))
        init_method = f"tcp://{_host_for_url(host)}:{port}"
    group = JoinedGroup(
        launcher="slurm", rank=_int(env, "SLURM_PROCID"), world_size=world,
        local_rank=_int(env, "SLURM_LOCALID", 0), local_size=local_size, init_method=init_method,
    )
    return _check(group, "SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID")


def detect_launcher_group(env: Optional[Mapping[str, str]] = None) -> Optional[JoinedGroup]:
    """The group this process was started in (torchrun > Slurm), or None."""
    env = os.environ if env is None else env
    return from_torchrun_env(env) or from_slurm_env(env)
