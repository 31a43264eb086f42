"""The README's main job end to end: train.py on the digits example, real data.

One full run of `python train.py --config-file codes/configs/digits.py` (module fixture,
a process of its own, as the user runs it) is shared by the tests that inspect what it
leaves behind; the runs that continue or evaluate it are made in this process, as train.py
makes them (the scheduler on the command line's arguments).
"""
import json
import os

import pytest
import torch

import codes  # noqa: F401  (registers the digits example, as train.py does)
from engine.schedule.scheduler import BaseScheduler

from conftest import DIGITS_PY, run_train


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    # as the README runs it: without PYTHONHASHSEED, which train.py then fixes for itself
    proc = run_train(["--config-file", DIGITS_PY, "output_dir", str(out)], cwd=str(out), unset=["PYTHONHASHSEED"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return os.path.join(str(out), "digits"), proc


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_digits_reaches_97_percent_validation_accuracy(digits_run):
    run_dir, _ = digits_run
    evals = [r for r in read_metrics(run_dir) if r["type"] == "eval"]
    assert evals[-1]["iter"] == 600
    assert evals[-1]["accuracy"] >= 0.97, evals


def test_run_directory_has_the_designed_layout(digits_run):
    run_dir, _ = digits_run
    for name in ("config.yaml", "log.txt", "metrics.jsonl"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(run_dir))
    ckpt = os.path.join(run_dir, "checkpoints")
    assert sorted(os.listdir(ckpt)) == [
        "last_checkpoint", "model_0000200.pth", "model_0000400.pth", "model_final.pth"]
    with open(os.path.join(ckpt, "last_checkpoint")) as f:
        assert f.read().strip() == "model_final.pth"


def test_metrics_jsonl_has_losses_lr_times_and_memory(digits_run):
    run_dir, _ = digits_run
    train = [r for r in read_metrics(run_dir) if r["type"] == "train"]
    assert [r["iter"] for r in train] == list(range(50, 601, 50))
    for key in ("cls", "lr", "data_time", "iter_time", "eta_seconds", "max_mem_mb", "epoch"):
        assert key in train[-1], key
    assert train[-1]["cls"] < train[0]["cls"]


def test_tensorboard_events_read_back_with_tensorboard(digits_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = digits_run
    events = EventAccumulator(run_dir)
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/cls", "train/lr", "train/iter_time", "eval/accuracy", "eval/top3_accuracy"} <= tags
    assert [e.step for e in events.Scalars("train/cls")] == list(range(50, 601, 50))
    assert events.Scalars("eval/accuracy")[-1].value >= 0.97


def test_log_has_resolved_config_progress_lines_and_eval(digits_run):
    run_dir, proc = digits_run
    with open(os.path.join(run_dir, "log.txt")) as f:
        log = f.read()
    assert "resolved config" in log and "DigitsClassifier" in log
    assert "iter: 600/600" in log and "lr:" in log and "data_time:" in log and "eta:" in log
    assert "max_rss:" in log and "accuracy=" in log
    assert "string hashing: fixed (PYTHONHASHSEED=0)" in log  # train.py re-ran itself before its imports
    assert "host memory: freed memory kept for reuse (glibc malloc thresholds at 1024 MiB)" in log
    assert "iter: 600/600" in proc.stdout


def test_checkpoint_holds_model_solver_ema_iteration_and_rng(digits_run):
    run_dir, _ = digits_run
    payload = torch.load(os.path.join(run_dir, "checkpoints", "model_final.pth"),
                         map_location="cpu", weights_only=True)
    assert payload["iteration"] == 600
    assert set(payload["model"]) == {"g_model", "g_solver", "g_ema"}
    assert {"python", "numpy", "torch"} <= set(payload["rng"])
    assert "digitsclassifier" in payload["config"].lower()


def test_resolved_config_is_a_valid_config_file(digits_run, tmp_path):
    run_dir, _ = digits_run
    BaseScheduler().schedule(["--config-file", os.path.join(run_dir, "config.yaml"), "--eval-only",
                              "trainer.weights", os.path.join(run_dir, "checkpoints", "model_final.pth"),
                              "output_dir", str(tmp_path), "dataloader.num_workers", "0"])
    evals = [r for r in read_metrics(os.path.join(str(tmp_path), "digits")) if r["type"] == "eval"]
    assert evals and evals[-1]["accuracy"] >= 0.97


def test_resume_after_the_final_checkpoint_continues_from_it(digits_run, capsys):
    run_dir, _ = digits_run
    out = os.path.dirname(run_dir)
    trainer = BaseScheduler().schedule(["--config-file", DIGITS_PY, "--resume", "output_dir", out,
                                        "solver.max_iter", "650", "dataloader.num_workers", "0"])
    console = capsys.readouterr().out
    assert trainer.start_iter == 600
    assert "resumed from" in console and "model_final.pth at iteration 600" in console
    assert "iter: 650/650" in console
    payload = torch.load(os.path.join(run_dir, "checkpoints", "model_final.pth"),
                         map_location="cpu", weights_only=True)
    assert payload["iteration"] == 650


def test_fresh_start_refuses_to_overwrite_a_run_with_checkpoints(digits_run, capsys):
    run_dir, _ = digits_run
    out = os.path.dirname(run_dir)
    before = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))
    with pytest.raises(SystemExit) as exit_:
        BaseScheduler().schedule(["--config-file", DIGITS_PY, "output_dir", out])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "already holds checkpoints" in err and "--resume" in err
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == before


def test_digits_file_reader_equals_sklearn_load_digits():
    import numpy as np
    from sklearn.datasets import load_digits

    from codes.digits.dataset import read_digits

    images, target = read_digits()
    reference = load_digits()
    assert np.array_equal(images, reference.images) and np.array_equal(target, reference.target)
