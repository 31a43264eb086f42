"""What one of two processes (gloo, CPU) sees alone, a NaN loss, a SIGTERM or a hook's
request_stop, every process must act on at the same step: whether the verdict rides on
DDP's gradient all-reduce (engine/trainer/ddp_agreement.py, the default) or takes a
collective after backward (``solver.skip_nonfinite_steps``). A worker that ends the
process itself is named by the launcher with its exit status.

The NaN runs start as a user starts them, ``train.py --num-gpus 2`` (the launcher spawns
two fresh interpreters and reports their status). The SIGTERM and request_stop runs need
two processes but not the launcher (its report of a worker's status is
test_distributed_env.py::test_worker_failure_reports): their two ranks join as under
torchrun, children of the fault-tolerance forkserver (torch already imported), and each
rank's own exit status is checked."""
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from conftest import DIGITS_PY, ROOT, TESTS
from hook_project import run_two_processes

TRAIN = '''
from nanproj import *  # noqa: F401,F403  (registers its networks and NanOnRankOne)
from engine.schedule.scheduler import BaseScheduler

if __name__ == "__main__":
    BaseScheduler().schedule()
'''

PACKAGE = '''
import os
import signal

import torch.distributed as dist

from codes.digits.network import DigitsNet
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.trainer.hooks import BUILD_HOOK_REGISTRY, HookBase
from fsdp_faults import NanOnRankOne  # noqa: F401  (rank 1's third training forward pass is NaN)


@BUILD_NETWORK_REGISTRY.register()
class SignalNet(DigitsNet):
    """On rank 1 only, SIGTERM arrives during the third training forward pass."""
    calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if dist.get_rank() == 1 and self.calls == 3:
                os.kill(os.getpid(), signal.SIGTERM)
        return super().forward(x)


@BUILD_NETWORK_REGISTRY.register()
class ExitNet(DigitsNet):
    """On rank 1 only, the process ends itself (os._exit(7)) in the third training forward pass."""
    calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if dist.get_rank() == 1 and self.calls == 3:
                os._exit(7)
        return super().forward(x)


@BUILD_HOOK_REGISTRY.register()
class RankOneStops(HookBase):
    """request_stop on rank 1 only, after iteration 3 (a decision from one rank's numbers)."""

    def after_step(self):
        if dist.get_rank() == 1 and self.trainer.iter + 1 == 3:
            self.trainer.request_stop("rank 1 saw enough")
'''


def _project(tmp_path):
    project = tmp_path / "project"
    (project / "nanproj").mkdir(parents=True, exist_ok=True)
    (project / "train.py").write_text(textwrap.dedent(TRAIN))
    (project / "nanproj" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    return project


def _args(tmp_path, network, *extra):
    return ["--config-file", DIGITS_PY,
            "output_dir", str(tmp_path / "out"), "solver.train_per_batch", "8", "dataloader.num_workers", "0",
            "trainer.progress_bar", "False", "solver.max_iter", "6", "solver.checkpoint_period", "100",
            "solver.eval_period", "0", "trainer.log_period", "2", "trainer.device", "cpu",
            "solver.generator.lr_scheduler.params.warmup_iter", "2", "trainer.dist_timeout", "60",
            "trainer.model.generator.name", network, *extra]


def _run(tmp_path, *extra, network="NanOnRankOne"):
    """``python train.py --num-gpus 2`` of the project: the launcher and its two workers
    (tests/ on their path: the project imports fsdp_faults)."""
    project = _project(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([ROOT, TESTS]), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "train.py", "--num-gpus", "2", *_args(tmp_path, network, *extra)],
        cwd=project, capture_output=True, text=True, timeout=240, env=env)


def _run_two_ranks(tmp_path, *extra, network):
    """Two ranks joined as under torchrun (forkserver children, each importing the project
    through custom_imports); their exit statuses, rank 0 first."""
    project = _project(tmp_path)
    argv = _args(tmp_path, network, "custom_imports", "['nanproj']", "project_root", str(project), *extra)
    return run_two_processes(argv, tmp_path)


def test_a_nan_on_one_process_stops_both_at_that_step(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    run_dir = tmp_path / "out" / "digits"
    rank0, rank1 = (run_dir / "log.txt").read_text(), (run_dir / "log.rank1.txt").read_text()
    assert "non-finite loss at iteration 3: cls=nan" in rank1, rank1[-2000:]
    assert "non-finite loss or gradients on another process" in rank0, rank0[-2000:]
    assert "at iteration 3" in rank0
    assert "ride on DDP's gradient all-reduce" in rank0  # the verdict came with the gradients
    assert not (run_dir / "checkpoints" / "model_final.pth").exists()


@pytest.mark.slow  # the skip path itself: tests/trainer/test_nonfinite.py; the 2-process stop stays in the default suite
def test_a_nan_on_one_process_is_skipped_by_both(tmp_path):
    result = _run(tmp_path, "solver.skip_nonfinite_steps", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(tmp_path / "out" / "digits" / "checkpoints" / "model_final.pth", weights_only=True)
    assert ckpt["trainer"]["nonfinite"]["skipped"] == 1, ckpt["trainer"].keys()


def test_sigterm_on_one_process_stops_both_after_the_same_step(tmp_path):
    codes = _run_two_ranks(tmp_path, network="SignalNet")
    run_dir = tmp_path / "out" / "digits"
    rank0 = (run_dir / "log.txt").read_text()
    assert codes == [143, 143], (codes, rank0[-2000:], (tmp_path / "rank1.log").read_text()[-2000:])
    assert "stopped by SIGTERM after iteration 3" in rank0, rank0[-2000:]
    assert "ride on DDP's gradient all-reduce" in rank0
    ckpt = torch.load(run_dir / "checkpoints" / "model_0000003.pth", weights_only=True)
    assert ckpt["iteration"] == 3


@pytest.mark.parametrize("extra", [[], pytest.param(["solver.skip_nonfinite_steps", "1"], marks=pytest.mark.slow)],
                         ids=["in-the-bucket", "collective"])
def test_request_stop_on_one_process_stops_both_after_the_next_step(tmp_path, extra):
    """Issue 25 item 8: rank 1 alone asks to stop after iteration 3; the request travels
    with step 4's verdict and both ranks stop after it: final evaluation, model_final.pth,
    exit 0, in seconds (not trainer.dist_timeout)."""
    start = time.monotonic()
    codes = _run_two_ranks(tmp_path, "trainer.hooks", "[{'name': 'RankOneStops'}]", *extra, network="DigitsNet")
    assert time.monotonic() - start < 50
    run_dir = tmp_path / "out" / "digits"
    rank0, rank1 = (run_dir / "log.txt").read_text(), (run_dir / "log.rank1.txt").read_text()
    assert codes == [0, 0], (codes, rank0[-2000:], rank1[-2000:])
    assert "stop requested after iteration 3: rank 1 saw enough" in rank1, rank1[-2000:]
    assert "stopping after iteration 4 of 6: rank 1 saw enough" in rank1
    assert "stopping after iteration 4 of 6: request_stop on rank 1 (the reason is in log.rank1.txt)" in rank0
    final = torch.load(run_dir / "checkpoints" / "model_final.pth", weights_only=True)
    assert final["iteration"] == 4 and final["trainer"]["stopped"].startswith("request_stop on rank 1")


@pytest.mark.slow  # the report itself: test_distributed_env.py::test_a_worker_that_exits_with_a_status_of_its_own_is_named_with_it
def test_a_worker_that_ends_its_process_is_named_with_its_status(tmp_path):
    """Issue 25 item 17: rank 1 calls os._exit(7); rank 0 then fails on the closed
    connection. The launcher names rank 1 and status 7, not rank 0's traceback."""
    result = _run(tmp_path, network="ExitNet")
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "worker process of rank 1 exited with status 7" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
