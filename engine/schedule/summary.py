"""What the console shows about a run before it starts: a few lines, not the config.

The resolved config (150 lines and more) goes to log.txt and config.yaml; the console
gets what a person checks at a glance: model and network, data sizes, steps and batch,
device, processes, run directory (``trainer.print_config True`` prints the whole config
on the console too).

It also warns when ``--num-gpus N`` asked for several processes, ``trainer.device`` is
``auto`` and no CUDA was found: the run then trains N CPU processes. A warning, not an
error: ``auto`` means "whatever this machine has", and the same command is how the
multi-process path is tried on a laptop; ``trainer.device cuda`` makes a missing GPU an
error, ``trainer.device cpu`` says the CPU processes are meant.
"""
from typing import List, Optional

import torch

from ..utils import comm

__all__ = ["run_summary", "cpu_fallback_warning"]


def cpu_fallback_warning(device_spec: str, world_size: int) -> Optional[str]:
    if world_size > 1 and str(device_spec).strip().lower() == "auto" and not torch.cuda.is_available():
        return (f"trainer.device is auto and no CUDA was found: training {world_size} CPU processes "
                f"(gloo) instead of GPUs; set trainer.device cpu to mean it, or cuda to require GPUs")
    return None


def _size(dataset) -> str:
    if dataset is None:
        return "none"
    try:
        return f"{len(dataset)} samples"
    except TypeError:
        return type(dataset).__name__


def run_summary(trainer, cfg, args, run_dir: str) -> List[str]:
    world = comm.get_world_size()
    batch = int(cfg.SOLVER.TRAIN_PER_BATCH)
    model = getattr(trainer, "model", None)
    network = cfg.TRAINER.MODEL.GENERATOR.get("NAME") or "(create_model)"
    mode = "evaluate only" if args.eval_only else ("resume if possible" if args.resume else "fresh start")
    lines = [
        f"run: {run_dir} ({mode})",
        f"model: {type(model).__name__} (network {network}), trainer {type(trainer).__name__}",
        f"data: train {_size(getattr(trainer, 'train_set', None))}, "
        f"val {_size(getattr(trainer, 'val_set', None))}",
        f"steps: {cfg.SOLVER.MAX_ITER} x batch {batch}"
        + (f" per process ({batch * world} global)" if world > 1 else ""),
        f"device: {getattr(model, 'device', cfg.TRAINER.DEVICE)}, processes: {world}"
        + (f" (DataParallel over {comm.get_gpus_per_process()} GPUs)" if comm.get_gpus_per_process() > 1 else ""),
        f"config: {run_dir}/config.yaml (and in log.txt; trainer.print_config True prints it here)",
    ]
    return lines
