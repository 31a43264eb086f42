"""Test-only pieces for the fault-tolerance tests: a trainer that kills or signals itself
at a chosen point, training runs in child processes, and state comparison.

``FaultTrainer.plan`` (set in the process that trains) says what happens where:

    {"kill_before": k}          SIGKILL itself before fetching the data of step k (0-based)
    {"kill_after": k}           SIGKILL itself right after step k's optimizer step
    {"kill_mid_write": it}      SIGKILL itself with half of checkpoint <it> written
    {"signal_before": (k, s)}   send signal s before step k (to its process group when
                                "group" is in the plan, so DataLoader workers get it too)
    {"signal_mid_write": (it, s)}  send signal s while torch.save writes checkpoint <it>
                                (from inside its zip writer, as a real Ctrl-C lands)

Runs compared bitwise use the same thread count (THREADS) in this process and in the
children. Child processes come from a forkserver that imported torch and the digits example once,
so each run starts in well under a second instead of the ~5 s of a fresh interpreter;
each child is still a separate process, killed for real.
"""
import io
import multiprocessing
import os
import random
import signal
import sys

import numpy as np
import torch
from torch import nn

import codes  # noqa: F401  (registers the digits example)
from engine.checkpoint.checkpointer import Checkpointer, periodic_name
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.schedule.scheduler import BaseScheduler
from engine.trainer.build import BUILD_TRAINER_REGISTRY
from engine.trainer.trainer import BaseTrainer
from engine.utils.atomic import atomic_write

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS_PY = os.path.join(ROOT, "codes", "configs", "digits.py")

MAX_ITER = 24
# One intra-op thread in every run compared: the same kernels in every process, and on a
# shared 2-core machine 10x faster than two threads fighting over the cores.
THREADS = 1


@BUILD_NETWORK_REGISTRY.register()
class RandomizedDigitsNet(nn.Module):
    """DigitsNet whose training forward draws from the global Python, NumPy and torch
    generators (noise and dropout), so a resume that did not restore every one of them
    would end with other weights."""

    def __init__(self, **kwargs):
        super().__init__()
        self.net = BUILD_NETWORK_REGISTRY.get("DigitsNet")(**kwargs)

    def forward(self, x):
        if self.training:
            scale = 0.05 * (0.5 + random.random()) * (0.5 + float(np.random.rand()))
            x = nn.functional.dropout(x + scale * torch.randn_like(x), 0.1)
        return self.net(x)


def digits_argv(out, *extra, workers=0, max_iter=MAX_ITER):
    """A short digits run (random crop + colour jitter, noise and dropout drawn from the
    global generators, EMA, AdamW, warmup-cosine LR, evaluation and model_best.pth)."""
    return ["--config-file", DIGITS_PY, "--resume", "output_dir", str(out),
            "dataloader.num_workers", str(workers), "trainer.progress_bar", "False",
            "trainer.log_period", "1", "solver.max_iter", str(max_iter),
            "solver.checkpoint_period", "4", "solver.eval_period", "8", "solver.max_keep", "2",
            "solver.best_metric", "accuracy", "solver.test_per_batch", "512",
            "solver.generator.lr_scheduler.params.warmup_iter", "5", "trainer.name", "FaultTrainer",
            "trainer.model.generator.name", "RandomizedDigitsNet", *extra]


def _self(sig, group=False):
    if group:
        os.killpg(os.getpgrp(), sig)
    else:
        os.kill(os.getpid(), sig)


class FaultCheckpointer(Checkpointer):
    plan: dict = {}

    def _write(self, path, payload):
        iteration = payload.get("iteration")
        periodic = os.path.basename(path) == periodic_name(iteration)
        kill = periodic and self.plan.get("kill_mid_write") == iteration
        sig = self.plan.get("signal_mid_write")
        send = periodic and sig is not None and sig[0] == iteration
        if send:  # the handler's KeyboardInterrupt is raised inside torch's C++ writer
            atomic_write(path, lambda f: torch.save(payload, _SignalOnThirdWrite(f, sig[1])))
            return
        if not kill:
            return super()._write(path, payload)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()

        def write(f):
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            _self(signal.SIGKILL)

        atomic_write(path, write)


class _SignalOnThirdWrite(io.RawIOBase):
    """The file torch.save writes to: sends ``sig`` to this process on its third write,
    a call from torch's zip writer (C++), where a second SIGINT's KeyboardInterrupt
    becomes torch's "unexpected pos" RuntimeError."""

    def __init__(self, f, sig):
        super().__init__()
        self.f, self.sig, self.writes = f, sig, 0

    def writable(self):
        return True

    def write(self, data):
        self.writes += 1
        if self.writes == 3:
            _self(self.sig)
        return self.f.write(data)


@BUILD_TRAINER_REGISTRY.register()
class FaultTrainer(BaseTrainer):
    plan: dict = {}

    def __init__(self, cfg):
        super().__init__(cfg)
        FaultCheckpointer.plan = self.plan
        old = self.checkpointer
        self.checkpointer = FaultCheckpointer(old.folder, old.max_keep, enabled=old.enabled)

    def iterate_before(self, epoch):
        if self.plan.get("kill_before") == self.iter:
            _self(signal.SIGKILL)
        signal_before = self.plan.get("signal_before")
        if signal_before and signal_before[0] == self.iter:
            _self(signal_before[1], group=self.plan.get("group", False))

    def iterate_after(self, epoch, loss_dict):
        if self.plan.get("kill_after") == self.iter:
            _self(signal.SIGKILL)


# --------------------------------------------------------------------------- processes
def _child(argv, plan, log_path):
    os.setpgrp()  # its own process group: a group signal reaches it and its workers only
    multiprocessing.set_start_method("fork", force=True)  # DataLoader workers as in a plain run
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
    FaultTrainer.plan = dict(plan)
    torch.set_num_threads(THREADS)
    try:
        BaseScheduler().schedule(argv)
    except SystemExit as e:
        os._exit(e.code if isinstance(e.code, int) else 1)
    os._exit(0)


_CONTEXT = None


def context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(
            ["torch", "torch._dynamo", "torch.utils.tensorboard", "sklearn.datasets", "codes",
             "fault_tolerance_helpers"])  # imports a first run would otherwise pay for
    return _CONTEXT


def run_child(argv, plan, log_path, timeout=120):
    """Train in a separate process; returns its exit code (-9 when SIGKILLed)."""
    process = context().Process(target=_child, args=(list(argv), dict(plan), str(log_path)))
    process.start()
    process.join(timeout)
    code = process.exitcode
    if code is None:
        process.kill()
        process.join()
    try:  # its DataLoader workers, orphaned by a SIGKILL, would linger a few seconds
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if code is None:
        raise AssertionError(f"training child did not finish in {timeout}s; log: {log_path}")
    return code


def run_here(argv, plan=None):
    """Train in this process; returns the exit code (0 when the run completes)."""
    FaultTrainer.plan = dict(plan or {})
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        BaseScheduler().schedule(argv)
    except SystemExit as e:
        return e.code
    finally:
        FaultTrainer.plan = {}
        torch.set_num_threads(threads)
    return 0


# --------------------------------------------------------------------------- comparison
def tensor_differences(a, b, path="state"):
    """Paths where two nested states differ (tensors compared with torch.equal)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [path]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"]
        return [d for k in a for d in tensor_differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in tensor_differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)
