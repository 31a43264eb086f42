"""Fully sharded training (trainer.fsdp) on CPU processes (gloo), end to end on digits.

The reference runs are made once per module: 1 process x batch 32 without sharding, and
2 sharded processes x batch 16 (``--num-gpus 2 trainer.fsdp.enabled True``), both 20
steps of the BatchNorm-free digits network with EMA. Every run uses OMP_NUM_THREADS=1 and
runs in its own interpreter (a sharded run creates a process group, even of one).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import DIGITS_PY, ROOT

MAX_ITER, PERIOD = 20, 10
ENV = {"OMP_NUM_THREADS": "1"}
TESTS = os.path.join(ROOT, "tests")


def args(out, *, processes=1, batch=16, fsdp=True, max_iter=MAX_ITER, resume=False, hooks=None, extra=()):
    argv = [sys.executable, os.path.join(ROOT, "train.py"), "--config-file", DIGITS_PY,
            "--num-gpus", str(processes), "output_dir", str(out), "solver.train_per_batch", str(batch),
            "dataloader.num_workers", "0", "trainer.progress_bar", "False", "trainer.device", "cpu",
            "solver.max_iter", str(max_iter), "solver.checkpoint_period", str(PERIOD), "solver.max_keep", "3",
            "solver.eval_period", "0", "trainer.log_period", "5",
            "solver.generator.lr_scheduler.params.warmup_iter", "2",
            "trainer.model.generator.batch_norm", "False", "trainer.dist_timeout", "120",
            "trainer.fsdp.enabled", str(fsdp), "custom_imports", "['fsdp_faults']", "project_root", TESTS]
    if hooks:
        argv += ["trainer.hooks", repr(hooks)]
    return argv + list(extra) + (["--resume"] if resume else [])


def run(argv, expect=0):
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, **ENV))
    assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-4000:]
    return result


def folder(out):
    return os.path.join(out, "digits", "checkpoints")


def final(out):
    return torch.load(os.path.join(folder(out), "model_final.pth"), weights_only=True)


def weights(out):
    model = final(out)["model"]
    return {f"{state}.{k}": v for state in ("g_model", "g_ema") for k, v in model[state].items()
            if isinstance(v, torch.Tensor)}


def worst_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def continue_from(out, name):
    """Make ``out`` look like a run interrupted right after checkpoint ``name``."""
    os.unlink(os.path.join(folder(out), "model_final.pth"))
    with open(os.path.join(folder(out), "last_checkpoint"), "w") as f:
        f.write(name + "\n")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    run(args(out, batch=32, fsdp=False))
    return out


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    run(args(out, processes=2))
    return out


def test_two_sharded_processes_train_like_one_process_with_the_same_global_batch(sharded, one_process):
    worst = worst_difference(weights(sharded), weights(one_process))
    print(f"FSDP 2 processes vs 1 process: max abs weight difference {worst:.3g}")
    assert worst <= 1e-6
    with open(os.path.join(sharded, "digits", "config.yaml")) as f:
        assert "type: FSDP" in f.read()
    log = open(os.path.join(sharded, "digits", "log.txt")).read()
    assert "fully sharded over 2 process(es): g_model" in log and "EMA sharded: g_ema" in log


def test_sharded_checkpoints_are_folders_and_the_final_one_a_consolidated_file(sharded, one_process):
    periodic = os.path.join(folder(sharded), "model_0000010.pth")
    assert os.path.isdir(periodic)
    names = set(os.listdir(periodic))
    assert {".metadata", "__0_0.distcp", "__1_0.distcp", "trainer.pth", "engine_record.json"} <= names
    record = json.load(open(os.path.join(periodic, "engine_record.json")))
    assert record["iteration"] == 10 and record["world_size"] == 2 and set(record["files"]) == names - {
        "engine_record.json"}
    # the consolidated final file has the unsharded run's layout: same keys, shapes, index-keyed optimizer
    ours, theirs = final(sharded)["model"], final(one_process)["model"]
    assert ours.keys() == theirs.keys()
    for state in ("g_model", "g_ema"):
        assert {k: getattr(v, "shape", None) for k, v in ours[state].items()} == \
               {k: getattr(v, "shape", None) for k, v in theirs[state].items()}
    optimizer = ours["g_solver"]["optimizer"]
    assert optimizer["state"].keys() == theirs["g_solver"]["optimizer"]["state"].keys()
    assert [g["params"] for g in optimizer["param_groups"]] == \
           [g["params"] for g in theirs["g_solver"]["optimizer"]["param_groups"]]


def test_a_sharded_checkpoint_resumes_on_one_process_and_continues_the_data_stream(sharded, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(sharded, out)
    continue_from(out, "model_0000010.pth")
    result = run(args(out, processes=1, resume=True))
    log = result.stdout + result.stderr
    assert "written by 2 process(es), read by 1: resharded" in log
    assert "solver.train_per_batch 16 -> 32 with solver.gradient_accumulation_batch 2 keeps the global batch" in log
    worst = worst_difference(weights(out), weights(sharded))
    print(f"FSDP resumed 2 -> 1 process: max abs weight difference {worst:.3g}")
    assert worst <= 1e-5
    assert final(out)["data"]["samples_seen"] == final(sharded)["data"]["samples_seen"] == MAX_ITER * 32


def test_the_tools_read_a_sharded_checkpoint(sharded, tmp_path):
    from engine.checkpoint.io import load_file
    from engine.tools import ckpt_deploy, ckpt_show

    periodic = os.path.join(folder(sharded), "model_0000010.pth")
    payload = load_file(periodic)
    assert payload["iteration"] == 10 and "g_model" in payload["model"]
    assert set(payload["model"]["g_solver"]["optimizer"]["state"]) == set(range(len(payload["model"]["g_model"])))
    shown = ckpt_show.describe(periodic)
    assert "iteration  10" in shown and "(16 x 2 process(es))" in shown
    deployed = tmp_path / "digits.pth"
    assert ckpt_deploy.main([periodic, str(deployed), "--ema"]) == 0
    weights_only = torch.load(deployed, weights_only=True)
    ema = {k[len("module."):]: v for k, v in payload["model"]["g_ema"].items() if k.startswith("module.")}
    assert weights_only.keys() == ema.keys() and all(torch.equal(weights_only[k], ema[k]) for k in ema)
    # engine-test evaluates it in one process without sharding
    result = subprocess.run([sys.executable, "-m", "engine.tools.test", "--config-file", DIGITS_PY,
                             "--weights", periodic, "trainer.model.generator.batch_norm", "False",
                             "dataloader.num_workers", "0", "output_dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ, **ENV))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accuracy" in result.stdout + result.stderr


def test_a_damaged_sharded_checkpoint_falls_back_to_the_previous_one(sharded, tmp_path):
    from engine.checkpoint.checkpointer import Checkpointer

    checkpoints = tmp_path / "checkpoints"
    os.makedirs(checkpoints)
    for name in ("model_0000005.pth", "model_0000010.pth"):
        shutil.copytree(os.path.join(folder(sharded), "model_0000010.pth"), checkpoints / name)
    (checkpoints / "last_checkpoint").write_text("model_0000010.pth\n")
    with open(checkpoints / "model_0000010.pth" / "__1_0.distcp", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.makedirs(checkpoints / ".model_0000015.pth.tmp")  # a save killed midway
    checkpointer = Checkpointer(str(checkpoints))
    assert checkpointer.remove_stale_temporaries() == [".model_0000015.pth.tmp"]
    path, payload = checkpointer.load_latest()
    assert path.endswith("model_0000005.pth") and payload["iteration"] == 10
    [(bad, reason)] = checkpointer.load_failures
    assert bad.endswith("model_0000010.pth") and "does not match the checksum" in reason
    assert payload["model"].get("g_model")["classifier.weight"].shape == (10, 32)  # shapes without reading


@pytest.mark.slow
def test_a_nan_on_one_sharded_process_is_skipped_by_both(tmp_path):
    """The non-finite guard judges each process's gradient shards and agrees: both skip."""
    out = tmp_path / "nan"
    result = run(args(out, processes=2, extra=["trainer.model.generator.name", "NanOnRankOne",
                                               "solver.skip_nonfinite_steps", "1"]))
    rank0, rank1 = (open(os.path.join(out, "digits", name)).read() for name in ("log.txt", "log.rank1.txt"))
    assert "iteration 3: non-finite loss (cls=nan): step skipped" in rank1
    assert "iteration 3: non-finite gradients (losses finite): step skipped" in rank0
    assert final(out)["trainer"]["nonfinite"]["skipped"] == 1, result.stdout[-2000:]


CLIP = ["solver.generator.optimizer.clip_gradients.enabled", "True",
        "solver.generator.optimizer.clip_gradients.clip_value", "0.5"]


@pytest.mark.slow
def test_gradient_clipping_and_accumulation_under_sharding_equal_ddp(tmp_path):
    """The norm is over every process's shards (clipped like DDP's full gradients), and
    the micro-batches before the last skip the reduce-scatter as DDP's no_sync does."""
    sharded_out, ddp_out = tmp_path / "sharded", tmp_path / "ddp"
    extra = CLIP + ["solver.gradient_accumulation_batch", "2"]
    run(args(sharded_out, processes=2, extra=extra))
    run(args(ddp_out, processes=2, fsdp=False, extra=extra))
    assert worst_difference(weights(sharded_out), weights(ddp_out)) <= 1e-6


@pytest.mark.slow
def test_sigkill_and_resume_at_the_same_world_size_is_bitwise(sharded, tmp_path):
    out = tmp_path / "killed"
    run(args(out, processes=2, hooks=[dict(name="KillAt", iteration=14, rank=1)]), expect=1)
    assert os.listdir(folder(out)).count("model_0000010.pth") == 1
    run(args(out, processes=2, resume=True))
    assert worst_difference(weights(out), weights(sharded)) == 0.0


@pytest.mark.slow
def test_a_kill_inside_a_sharded_save_leaves_a_resumable_run(sharded, tmp_path):
    out = tmp_path / "killed_in_save"
    every_5 = ["solver.checkpoint_period", "5"]
    run(args(out, processes=2, hooks=[dict(name="KillAt", iteration=15, inside_save=True)], extra=every_5),
        expect=1)
    names = os.listdir(folder(out))
    assert ".model_0000015.pth.tmp" in names and "model_0000015.pth" not in names
    assert open(os.path.join(folder(out), "last_checkpoint")).read().strip() == "model_0000010.pth"
    result = run(args(out, processes=2, resume=True, extra=every_5))
    assert "model_0000010.pth at iteration 10" in result.stdout + result.stderr
    assert "removed 1 temporary file(s)" in result.stdout + result.stderr
    assert worst_difference(weights(out), weights(sharded)) == 0.0


@pytest.mark.slow
def test_one_sharded_process_resumes_on_two(tmp_path, sharded):
    out = tmp_path / "one_to_two"
    run(args(out, processes=1, batch=32))
    continue_from(out, "model_0000010.pth")
    result = run(args(out, processes=2, batch=32, resume=True))
    assert "solver.train_per_batch 32 -> 16" in result.stdout + result.stderr
    assert worst_difference(weights(out), weights(sharded)) <= 1e-5


@pytest.mark.slow
def test_an_unsharded_checkpoint_resumes_sharded(one_process, tmp_path):
    out = tmp_path / "plain_to_sharded"
    shutil.copytree(one_process, out)
    continue_from(out, "model_0000010.pth")
    run(args(out, processes=2, batch=32, resume=True))
    assert worst_difference(weights(out), weights(one_process)) <= 1e-5


@pytest.mark.slow
def test_torchrun_restarts_a_killed_worker_and_the_run_ends_as_uninterrupted(sharded, tmp_path):
    out = tmp_path / "elastic"
    from engine.schedule.dist_url import find_free_port

    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
               "--max-restarts=3", "--master-port", str(find_free_port())]
    train = args(out, processes=1, hooks=[dict(name="KillAt", iteration=13, rank=1)], resume=True)[1:]
    train = [a for i, a in enumerate(train) if a != "--num-gpus" and (i == 0 or train[i - 1] != "--num-gpus")]
    result = run(command + train)
    log = result.stdout + result.stderr
    assert "resumed from" in log and "model_0000010.pth at iteration 10" in log
    assert worst_difference(weights(out), weights(sharded)) == 0.0
