"""Per-process training state under trainer.fsdp against DDP, and their step times.

Why: sharding is only worth its all-gathers if each process really holds ~1/N of the
parameters, gradients and optimizer state. This counts those bytes exactly (the local
shards' storage, not a noisy RSS), for a ~50 M-parameter MLP trained with AdamW through
the engine's own bundle (``ClassificationModel``) and wrapping (``wrap_for_parallel``):
one process unsharded, FSDP at 1, 2 and 4 processes, DDP at 2. It also times the step
(median of ``--steps`` after ``--warmup``) of FSDP and DDP at 2 processes.

Run from the repository root (numbers in doc/benchmarks.md)::

    python benchmarks/fsdp_memory.py                     # CPU processes (gloo)
    python benchmarks/fsdp_memory.py --device cuda       # one process per GPU (NCCL)
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402

from engine.config.defaults import get_default_cfg  # noqa: E402
from engine.model.build import BUILD_NETWORK_REGISTRY, build_model  # noqa: E402
from engine.model.parallel import wrap_for_parallel  # noqa: E402
from engine.schedule.dist_url import find_free_port  # noqa: E402
from engine.utils import comm  # noqa: E402


@BUILD_NETWORK_REGISTRY.register()
class BenchMLP(nn.Module):
    """``depth`` blocks of Linear(width, width) + GELU: 8 x 2560^2 = 52 M parameters."""

    def __init__(self, width: int = 2560, depth: int = 8, num_classes: int = 10):
        super().__init__()
        self.blocks = nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.GELU()) for _ in range(depth)])
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.blocks(x))


def config(mode: str, device: str, width: int, depth: int):
    cfg = get_default_cfg()
    cfg.TRAINER.DEVICE = device
    cfg.TRAINER.MODEL.NAME = "ClassificationModel"
    cfg.TRAINER.MODEL.GENERATOR = type(cfg.TRAINER.MODEL.GENERATOR)(
        {"NAME": "BenchMLP", "WIDTH": width, "DEPTH": depth}, new_allowed=True)
    cfg.SOLVER.GENERATOR.OPTIMIZER.TYPE = "AdamW"
    cfg.SOLVER.MAX_ITER = 100
    cfg.TRAINER.FSDP.ENABLED = mode == "fsdp"
    cfg.TRAINER.FSDP.WRAP = ["Sequential"] if mode == "fsdp" else []
    return cfg


def local_bytes(tensor) -> int:
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
    return local.numel() * local.element_size()


def measure(rank, world, mode, args, port, out):
    torch.set_num_threads(args.threads)
    if world > 1:
        backend = "nccl" if args.device == "cuda" else "gloo"
        if args.device == "cuda":
            torch.cuda.set_device(rank)
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        comm.set_local_info(rank, world)
    device = f"cuda:{rank}" if args.device == "cuda" else "cpu"
    torch.manual_seed(0)
    model = wrap_for_parallel(build_model(config(mode, device, args.width, args.depth)), config(
        mode, device, args.width, args.depth))
    batch = {"input_data": torch.randn(args.batch, args.width), "target_data": torch.randint(0, 10, (args.batch,))}
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        model.train_iteration([batch])
        if args.device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    network = model.unwrapped("g_model")
    params = sum(local_bytes(p) for p in network.parameters())
    grads = sum(local_bytes(p.grad) for p in network.parameters() if p.grad is not None)
    optimizer = sum(local_bytes(v) for s in model.g_solver.optimizer.state.values() for v in s.values()
                    if isinstance(v, torch.Tensor))
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"params": params, "grads": grads, "optimizer": optimizer,
                       "total": params + grads + optimizer, "step_ms": 1000 * statistics.median(times),
                       "parameters": sum(p.numel() for p in network.parameters())}, f)
    if dist.is_initialized():
        dist.destroy_process_group()


def run(world: int, mode: str, args) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "result.json")
        if world == 1 and mode != "fsdp":
            measure(0, 1, mode, args, 0, out)
        else:
            mp.spawn(measure, args=(world, mode, args, find_free_port(), out), nprocs=world)
        with open(out) as f:
            return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--width", type=int, default=2560)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    runs = [("plain", 1), ("fsdp", 1), ("fsdp", 2), ("fsdp", 4), ("ddp", 2)]
    results = {f"{mode} x{world}": run(world, mode, args) for mode, world in runs}
    base = results["plain x1"]["total"]
    print(f"{results['plain x1']['parameters'] / 1e6:.1f} M parameters, AdamW, batch {args.batch}, "
          f"{args.device} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), "
          f"torch {torch.__version__}")
    print("| run | params MiB | grads MiB | optimizer MiB | total MiB | vs 1 process | step ms |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        mib = [r[k] / 2**20 for k in ("params", "grads", "optimizer", "total")]
        print(f"| {name} | {mib[0]:.1f} | {mib[1]:.1f} | {mib[2]:.1f} | {mib[3]:.1f} | "
              f"{r['total'] / base:.3f}x | {r['step_ms']:.0f} |")


if __name__ == "__main__":
    main()
