"""Impossible launch requests end before any worker starts: one `error:` line, exit 2,
no run directory (DESIGN invariant 6; engine/schedule/launch.py)."""
import os
import socket

import pytest
import torch
import torch.multiprocessing

import codes  # noqa: F401  (registers the digits example)
from engine.schedule.scheduler import BaseScheduler

from conftest import DIGITS_PY


@pytest.fixture
def nothing_spawned(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a worker process was started")

    monkeypatch.setattr(torch.multiprocessing, "start_processes", refuse)


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend this machine has CUDA with ``n`` GPUs (the checks run before any CUDA call)."""
    def install(n):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    return install


def launch_error(tmp_path, capsys, *argv):
    with pytest.raises(SystemExit) as info:
        BaseScheduler().schedule(["--config-file", DIGITS_PY, "output_dir", str(tmp_path),
                                  "dataloader.num_workers", "0", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert not os.path.exists(tmp_path / "digits"), "the run directory was created"
    return lines[0]


def test_more_gpus_than_exist(tmp_path, capsys, nothing_spawned, fake_gpus):
    fake_gpus(1)
    line = launch_error(tmp_path, capsys, "--num-gpus", "2", "trainer.device", "cuda")
    assert "--num-gpus 2, but only 1 GPU(s) are visible" in line


def test_one_named_gpu_for_several_processes(tmp_path, capsys, nothing_spawned, fake_gpus):
    fake_gpus(2)
    line = launch_error(tmp_path, capsys, "--num-gpus", "2", "trainer.device", "cuda:1")
    assert "'cuda:1' names one GPU" in line and "CUDA_VISIBLE_DEVICES" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_asked_for_but_absent(tmp_path, capsys, nothing_spawned):
    line = launch_error(tmp_path, capsys, "--num-gpus", "2", "trainer.device", "cuda")
    assert "CUDA is not available" in line


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:29500", "scheme 'http' is not supported"),
    ("tcp://127.0.0.1", "no port"),
    ("tcp://:29500", "no host"),
    ("tcp://no-such-host.invalid:29500", "does not resolve"),
])
def test_bad_dist_url(tmp_path, capsys, nothing_spawned, url, message):
    line = launch_error(tmp_path, capsys, "--num-gpus", "2", "--dist-url", url, "trainer.device", "cpu")
    assert url in line and message in line


def test_port_in_use_on_machine_zero(tmp_path, capsys, nothing_spawned):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        line = launch_error(tmp_path, capsys, "--num-machines", "2", "--machine-rank", "0",
                            "--dist-url", f"tcp://127.0.0.1:{port}", "trainer.device", "cpu")
    assert f"port {port} is already in use" in line


def test_auto_url_with_several_machines(tmp_path, capsys, nothing_spawned):
    line = launch_error(tmp_path, capsys, "--num-machines", "2", "trainer.device", "cpu")
    assert "--dist-url auto" in line and "--num-machines 1" in line


def test_machine_rank_out_of_range(tmp_path, capsys, nothing_spawned):
    line = launch_error(tmp_path, capsys, "--num-machines", "2", "--machine-rank", "2",
                        "--dist-url", "tcp://127.0.0.1:29500", "trainer.device", "cpu")
    assert "--machine-rank 2 must be in [0, 1]" in line


def test_data_parallel_needs_cuda_and_one_machine(tmp_path, capsys, nothing_spawned):
    line = launch_error(tmp_path, capsys, "--num-gpus", "2", "trainer.parallel", "dp", "trainer.device", "cpu")
    assert "needs CUDA GPUs" in line and "trainer.parallel ddp" in line
    line = launch_error(tmp_path, capsys, "--num-gpus", "2", "--num-machines", "2", "--dist-url",
                        "tcp://127.0.0.1:29500", "trainer.parallel", "dp", "trainer.device", "cpu")
    assert "runs on one machine" in line


def test_bad_parallel_mode_and_timeout(tmp_path, capsys, nothing_spawned):
    assert "trainer.parallel must be 'ddp' or 'dp'" in launch_error(
        tmp_path, capsys, "--num-gpus", "2", "trainer.parallel", "fsdp")
    assert "trainer.dist_timeout must be > 0" in launch_error(
        tmp_path, capsys, "--num-gpus", "2", "trainer.dist_timeout", "0")


def test_sync_bn_on_cpu_processes(tmp_path, capsys, nothing_spawned):
    line = launch_error(tmp_path, capsys, "--num-gpus", "2", "trainer.device", "cpu", "trainer.ddp.sync_bn", "True")
    assert "sync_bn needs CUDA" in line


class UnpicklableScheduler(BaseScheduler):
    def __init__(self):
        super().__init__()
        self.hook = lambda: None  # a lambda does not pickle


def test_a_scheduler_that_does_not_pickle(tmp_path, capsys, nothing_spawned):
    with pytest.raises(SystemExit) as info:
        UnpicklableScheduler().schedule(["--config-file", DIGITS_PY, "--num-gpus", "2", "output_dir",
                                         str(tmp_path), "trainer.device", "cpu"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "UnpicklableScheduler can not be sent to the worker processes" in err


def test_data_parallel_under_torchrun(tmp_path, capsys, nothing_spawned, monkeypatch):
    for key, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(key, value)
    line = launch_error(tmp_path, capsys, "trainer.parallel", "dp", "trainer.device", "cpu")
    assert "torchrun started 2" in line


def test_torchrun_variables_without_master_address(tmp_path, capsys, nothing_spawned, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    line = launch_error(tmp_path, capsys, "trainer.device", "cpu")
    assert "MASTER_ADDR" in line


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})


def test_far_more_cpu_processes_than_cores_is_refused(tmp_path, capsys, nothing_spawned, two_cores):
    """Issue 25 item 9: 64 CPU workers on 2 cores took 17 GB and trained nothing."""
    line = launch_error(tmp_path, capsys, "--num-gpus", "64", "trainer.device", "cpu")
    assert "--num-gpus 64 with trainer.device cpu starts 64 CPU processes" in line
    assert "2 core(s): at most 8 (4 per core)" in line and "use --num-gpus 2 or fewer" in line


def test_more_cpu_processes_than_cores_is_a_warning(tmp_path, capsys, two_cores, monkeypatch):
    from engine.schedule import launch

    spawned = []
    monkeypatch.setattr(launch, "_spawn", lambda main, args, plan: spawned.append(plan.local_size))
    BaseScheduler().schedule(["--config-file", DIGITS_PY, "output_dir", str(tmp_path), "dataloader.num_workers", "0",
                              "--num-gpus", "3", "trainer.device", "cpu"])
    assert spawned == [3]
    assert "warning: --num-gpus 3 with trainer.device cpu: 3 CPU processes share 2 core(s)" in capsys.readouterr().err
