"""Reading what torchrun and Slurm tell a process, and --dist-url: pure functions, no
process group (engine/schedule/cluster_env.py, slurm.py, dist_url.py)."""
import os
import shutil
import socket
import subprocess

import pytest

from engine.schedule.cluster_env import detect_launcher_group, from_slurm_env, from_torchrun_env
from engine.schedule.dist_url import parse_dist_url, resolve_dist_url
from engine.schedule.slurm import default_port, expand_nodelist, expand_tasks_per_node
from engine.utils.errors import EngineError


@pytest.mark.parametrize("text, hosts", [
    ("node01", ["node01"]),
    ("node[01-03,7]", ["node01", "node02", "node03", "node7"]),
    ("node[1-3]", ["node1", "node2", "node3"]),
    ("node[098-101]", ["node098", "node099", "node100", "node101"]),
    ("gpu1,gpu[3-4],cpu-a", ["gpu1", "gpu3", "gpu4", "cpu-a"]),
    ("rack[1-2]-n[1,3]", ["rack1-n1", "rack1-n3", "rack2-n1", "rack2-n3"]),
    ("a[1-2].cluster,b9", ["a1.cluster", "a2.cluster", "b9"]),
    ("10.0.0.[5-6]", ["10.0.0.5", "10.0.0.6"]),
])
def test_nodelist_expansion(text, hosts):
    assert expand_nodelist(text) == hosts


@pytest.mark.parametrize("text", ["node[1-", "node]1[", "node[a-b]", "node[3-1]", "node[[1]]", ""])
def test_bad_nodelist_is_an_error_naming_the_variable(text):
    with pytest.raises(EngineError, match="SLURM_STEP_NODELIST"):
        expand_nodelist(text, "SLURM_STEP_NODELIST")


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="Slurm's scontrol is not installed")
def test_nodelist_expansion_agrees_with_scontrol():
    text = "node[01-03,7],gpu[9-10]"
    out = subprocess.run(["scontrol", "show", "hostnames", text], capture_output=True, text=True, check=True)
    assert expand_nodelist(text) == out.stdout.split()


def test_tasks_per_node_and_default_port():
    assert expand_tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    assert expand_tasks_per_node("4") == [4]
    with pytest.raises(EngineError):
        expand_tasks_per_node("2x3")
    assert default_port("123456") == 12000 + 123456 % 20000
    assert 12000 <= default_port("") < 32000


TORCHRUN = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
SRUN = {"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1", "SLURM_NODEID": "2",
        "SLURM_STEP_TASKS_PER_NODE": "2(x4)", "SLURM_STEP_NODELIST": "gpu[007-010]",
        "SLURM_JOB_NODELIST": "gpu[001-010]", "SLURM_JOB_ID": "4242", "SLURM_NTASKS": "8"}


def test_torchrun_environment():
    group = from_torchrun_env(TORCHRUN)
    assert (group.launcher, group.rank, group.world_size, group.local_rank, group.local_size,
            group.init_method) == ("torchrun", 3, 4, 1, 2, "env://")


def test_torchrun_environment_errors():
    with pytest.raises(EngineError, match="MASTER_ADDR"):
        from_torchrun_env({k: v for k, v in TORCHRUN.items() if k != "MASTER_ADDR"})
    with pytest.raises(EngineError, match="RANK='x' is not an integer"):
        from_torchrun_env({**TORCHRUN, "RANK": "x"})
    with pytest.raises(EngineError, match=r"rank 4 is not in \[0, 3\]"):
        from_torchrun_env({**TORCHRUN, "RANK": "4"})
    assert from_torchrun_env({"LOCAL_RANK": "0"}) is None  # RANK/WORLD_SIZE missing: not torchrun


def test_slurm_environment():
    group = from_slurm_env(SRUN)
    assert (group.launcher, group.rank, group.world_size, group.local_rank, group.local_size) == \
        ("slurm", 5, 8, 1, 2)
    assert group.init_method == f"tcp://gpu007:{default_port('4242')}"  # first node of the step
    group = from_slurm_env({**SRUN, "MASTER_ADDR": "head", "MASTER_PORT": "23456"})
    assert group.init_method == "tcp://head:23456"
    no_step_list = {k: v for k, v in SRUN.items() if k != "SLURM_STEP_NODELIST"}
    assert from_slurm_env(no_step_list).init_method.startswith("tcp://gpu001:")


def test_an_sbatch_script_is_not_a_group():
    """The batch script has SLURM_PROCID/SLURM_NTASKS but is not an srun step."""
    batch = {k: v for k, v in SRUN.items() if not k.startswith("SLURM_STEP")}
    assert from_slurm_env(batch) is None
    assert detect_launcher_group(batch) is None


def test_precedence_torchrun_over_slurm_over_nothing():
    assert detect_launcher_group({**SRUN, **TORCHRUN}).launcher == "torchrun"  # srun torchrun ...
    assert detect_launcher_group(SRUN).launcher == "slurm"
    assert detect_launcher_group({}) is None


def test_dist_url_parsing():
    assert parse_dist_url("tcp://10.0.0.1:29500") == ("10.0.0.1", 29500)
    assert parse_dist_url("tcp://[::1]:29500") == ("::1", 29500)
    for url, what in [("http://h:1", "scheme 'http'"), ("10.0.0.1:29500", "scheme"),
                      ("tcp://:29500", "no host"), ("tcp://host", "no port"),
                      ("tcp://host:0", "not in 1..65535"), ("tcp://host:99999", "out of range|65535"),
                      ("tcp://host:12/x", "path")]:
        with pytest.raises(EngineError, match=what):
            parse_dist_url(url)


def test_dist_url_checks_that_need_the_network():
    with pytest.raises(EngineError, match="only works with --num-machines 1"):
        resolve_dist_url("auto", 2, 0)
    assert resolve_dist_url("auto", 1, 0).startswith("tcp://127.0.0.1:")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(EngineError, match=f"port {port} is already in use"):
            resolve_dist_url(f"tcp://127.0.0.1:{port}", 2, 0)
        # machine 1 does not listen: it connects, so a busy port is fine there
        assert resolve_dist_url(f"tcp://127.0.0.1:{port}", 2, 1) == f"tcp://127.0.0.1:{port}"
    with pytest.raises(EngineError, match="does not resolve"):
        resolve_dist_url("tcp://no-such-host.invalid:29500", 2, 1)


# ---------------------------------------------------------------- failure reports
def test_worker_failure_reports(tmp_path, capsys):
    """engine/schedule/failures.py: what the launcher says about a failed worker."""
    from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

    from engine.schedule.failures import record_failure, report_worker_failure

    exited = ProcessExitedException("process 1 terminated with exit code 2", 1, 123, 2)
    record_failure(str(tmp_path), 3, "engine", "rank 3 says no")
    record_failure(str(tmp_path), 1, "engine", "rank 1 says no")
    with pytest.raises(EngineError, match="^rank 1 says no$"):  # bad input wins, lowest rank
        report_worker_failure(exited, str(tmp_path), 0)

    empty = tmp_path / "none"
    empty.mkdir()
    stopped = ProcessExitedException("process 0 terminated with exit code 143", 0, 1, 143)
    with pytest.raises(SystemExit) as info:  # SIGTERM: saved and stopped, status kept
        report_worker_failure(stopped, str(empty), 0)
    assert info.value.code == 143 and capsys.readouterr().err == ""

    killed = ProcessExitedException("process 1 terminated with signal SIGKILL", 1, 1, -9, "SIGKILL")
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    record_failure(str(crashes), 0, "exception", "Traceback ...\nRuntimeError: Connection closed by peer")
    with pytest.raises(SystemExit) as info:  # machine 1's rank 3 (offset 2) died first, silently
        report_worker_failure(killed, str(crashes), 2)
    err = capsys.readouterr().err
    assert info.value.code == 1 and "rank 3 was killed by SIGKILL (out of memory?)" in err
    assert "Connection closed" not in err

    record_failure(str(crashes), 1, "exception", "Traceback ...\nValueError: later")
    raised = ProcessRaisedException("\n\n-- Process 1 ...", 1, 1)
    with pytest.raises(SystemExit) as info:  # the earliest traceback, once
        report_worker_failure(raised, str(crashes), 0)
    err = capsys.readouterr().err
    assert err.count("Connection closed by peer") == 1 and "ValueError" not in err
    assert "error: worker process of rank 0 failed with the exception above" in err


def test_a_worker_that_exits_with_a_status_of_its_own_is_named_with_it(tmp_path, capsys):
    """Issue 25 item 17: rank 1 calls os._exit(7); rank 0 then fails on the closed
    connection (a recorded traceback). The cause is rank 1 and its status, whichever
    process torch.multiprocessing saw first."""
    from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

    from engine.schedule.failures import record_failure, report_worker_failure

    record_failure(str(tmp_path), 0, "exception", "Traceback ...\nRuntimeError: Connection reset by peer")
    for first in (ProcessExitedException("process 1 terminated with exit code 7", 1, 12, 7),
                  ProcessRaisedException("\n\n-- Process 0 ...", 0, 11)):
        with pytest.raises(SystemExit) as info:
            report_worker_failure(first, str(tmp_path), 0, {0: 1, 1: 7})
        err = capsys.readouterr().err
        assert info.value.code == 1 and "Connection reset" not in err, err
        assert "error: worker process of rank 1 exited with status 7 without reporting an error" in err
        assert "log.rank1.txt" in err



def test_spawned_workers_share_string_hashing_so_set_orders_agree(monkeypatch):
    """A dataset built from a set of file names (as seed projects build them) lists them
    in the same order on every rank only if the workers hash strings alike: the
    launcher hands them PYTHONHASHSEED (spawned interpreters read it at start-up)."""
    from engine.schedule import launch as launching

    seen = {}
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.setattr(launching, "_spawn", lambda main, args, plan: seen.update(os.environ))
    launching.launch(print, 2, device="cpu")
    assert seen["PYTHONHASHSEED"] == "0"
    monkeypatch.setenv("PYTHONHASHSEED", "123")  # one the user set is kept
    launching.launch(print, 2, device="cpu")
    assert seen["PYTHONHASHSEED"] == "123"
