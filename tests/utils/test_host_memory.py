"""``trainer.reuse_host_memory`` (engine/utils/host_memory.py): with glibc's default
thresholds, training steps of a convolutional network page-fault thousands of times a
step (freed memory handed back to the kernel, then mapped and zeroed again); with the
engine's thresholds, not at all. Each case runs in a fresh process: the thresholds are
process-wide and cannot be put back."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import codes  # noqa: F401  (registers the digits example)
from engine.config import load_cfg
from engine.trainer.build import build_trainer
from engine.trainer import trainer as trainer_module

from conftest import DIGITS_PY, ROOT

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

#: steps of a small convolutional network whose activations (36 MiB) are freed and
#: allocated again every step, as training does; prints what was done, then the median
#: page faults of its last 5 steps
STEPS = """
import resource, sys, torch
from torch import nn
torch.set_num_threads(1)
if sys.argv[1] == "reuse":
    from engine.utils.host_memory import reuse_host_memory
    print(reuse_host_memory())
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 128, 1), nn.ReLU(), nn.Conv2d(128, 8, 1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x, y = torch.randn(2, 3, 192, 192), torch.tensor([1, 2])  # activations of 36 MiB
def step():
    loss = nn.functional.cross_entropy(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(f"faults per step {sorted(faults[5:])[2]}")  # the median of the last 5 (the first grow the heap)
"""


def run_steps(mode, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", STEPS, mode], cwd=ROOT, capture_output=True, text=True,
                          env={**environment, **env}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    return lines[:-1], float(lines[-1].rsplit(" ", 1)[1])


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's (Linux)")
def test_training_steps_stop_page_faulting_once_freed_memory_is_kept():
    _, faults_by_default = run_steps("default")
    said, faults_kept = run_steps("reuse")
    assert said == ["freed memory kept for reuse (glibc malloc thresholds at 1024 MiB)"]
    # by default a block over 32 MiB (glibc's largest dynamic mmap threshold) is mapped
    # and zeroed again each step: 36,868 faults; kept, the heap settles within a few steps
    assert faults_kept <= 100 < 9000 <= faults_by_default


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's (Linux)")
@pytest.mark.parametrize("env", [{"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}])
def test_thresholds_the_environment_sets_are_left_alone(env):
    done = subprocess.run([sys.executable, "-c", "from engine.utils.host_memory import reuse_host_memory as r; "
                           "print(r()); print(r())"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert done.stdout.splitlines() == ["left as the environment sets it"] * 2, done.stderr[-2000:]


@pytest.mark.parametrize("reuse", [True, False])
def test_the_trainer_keeps_freed_memory_unless_the_config_says_not_to(tmp_path, monkeypatch, reuse):
    """(The README's run logs what was done: tests/e2e/test_digits_e2e.py.)"""
    calls = []
    monkeypatch.setattr(trainer_module, "reuse_host_memory", lambda: calls.append(1) or "kept (recorded)")
    cfg = load_cfg(DIGITS_PY, ["output_dir", str(tmp_path), "dataloader.num_workers", "0",
                               "trainer.progress_bar", "False", "solver.max_iter", "2", "solver.eval_period", "0",
                               "solver.generator.lr_scheduler.params.warmup_iter", "1",
                               "trainer.reuse_host_memory", str(reuse)])
    build_trainer(cfg).train()
    assert calls == ([1] if reuse else [])
    assert Path(tmp_path, "digits", "checkpoints", "model_final.pth").is_file()
