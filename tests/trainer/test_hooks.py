"""Hooks (engine/trainer/hooks): a user hook named in trainer.hooks, its stages, its place
among the built-ins, request_stop, its state across SIGKILL + --resume, EarlyStopping,
ModelCheckpoint's top k, self.log over two processes, bad hook configs.

Every run is the tiny line project of hook_project.py (well under a second each)."""
import json
import os
import re

import pytest
import torch

from engine.trainer.hooks import Priority

import hook_project  # noqa: F401  (registers the project and its hooks)
from fault_tolerance_helpers import tensor_differences
from hook_project import run_child, run_two_processes, schedule_here, write_config


def argv(out, *extra, hooks=()):
    return ["--config-file", write_config(out), "output_dir", str(out), "trainer.hooks", repr(list(hooks)),
            *extra]


def records(out, kind):
    with open(os.path.join(out, "line", "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r["type"] == kind]


def checkpoint(out, name="model_final.pth"):
    return torch.load(os.path.join(out, "line", "checkpoints", name), weights_only=True)


def hook(trainer, state_key):
    return next(h for h in trainer.hooks if h.state_key == state_key)


def top_files(out):
    return sorted(n for n in os.listdir(os.path.join(out, "line", "checkpoints")) if n.startswith("model_top_"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """8 iterations, evaluation every 4, two recording hooks: at the default priority
    (before the writers and evaluation) and at 85 (after evaluation, before checkpoints)."""
    out = tmp_path_factory.mktemp("recorded")
    trainer = schedule_here(argv(out, "solver.max_iter", "8", hooks=[
        dict(name="RecordingHook"), dict(name="RecordingHook", priority=85, tag="late")]))
    return out, trainer


def test_a_user_hook_sees_every_stage_in_order_with_its_iteration(recorded):
    _, trainer = recorded
    expected = [("before_train", 0)]
    for i in range(8):
        expected += [("before_step", i), ("after_step", i)] + ([("after_eval", i)] if (i + 1) % 4 == 0 else [])
    expected.append(("after_train", 8))
    assert hook(trainer, "RecordingHook").events == expected


def test_hooks_run_in_priority_order_among_the_builtins(recorded):
    out, trainer = recorded
    names = [(type(h).__name__, h.priority) for h in trainer.hooks]
    assert names == sorted(names, key=lambda n: n[1])
    position = {h.state_key: i for i, h in enumerate(trainer.hooks)}
    assert position["SeedMethods"] < position["RecordingHook"] < position["MetricsLogger"] \
        < position["PeriodicEval"] < position["RecordingHooklate"] < position["PeriodicCheckpoint"]
    # behaviour, not just the list: at 85 the evaluation of the step came before its after_step
    late = hook(trainer, "RecordingHooklate").events
    assert late[late.index(("after_eval", 3)) + 1] == ("after_step", 3)
    assert hook(trainer, "RecordingHook").state_dict()["steps"] == 8
    assert checkpoint(out)["trainer"]["RecordingHooklate"]["steps"] == 8


def test_request_stop_finishes_the_step_saves_and_ends_cleanly(tmp_path):
    trainer = schedule_here(argv(tmp_path, hooks=[dict(name="RecordingHook", stop_at=6)]))
    assert not isinstance(trainer, int), f"exit status {trainer}"  # no SystemExit: exit status 0
    assert trainer.stop_request.reason == "RecordingHook asked to stop at 6"
    final = checkpoint(tmp_path)
    assert final["iteration"] == 6 and final["trainer"]["stopped"] == trainer.stop_request.reason
    assert [r["iter"] for r in records(tmp_path, "eval")] == [4, 6]  # the final evaluation at the stop
    assert hook(trainer, "RecordingHook").events[-2:] == [("after_eval", 5), ("after_train", 6)]
    log = open(tmp_path / "line" / "log.txt").read()
    assert "stopping after iteration 6 of 12: RecordingHook asked to stop at 6" in log
    # a stopped run stays stopped on --resume
    again = schedule_here(argv(tmp_path, "--resume", hooks=[dict(name="RecordingHook", stop_at=6)]))
    assert again.start_iter == 6 and hook(again, "RecordingHook").events == []


def test_hook_state_survives_sigkill_and_resume_bitwise(tmp_path):
    hooks = [dict(name="RecordingHook"),
             dict(name="EarlyStopping", monitor="val_mse", patience=20, min_delta=0.5),
             dict(name="ModelCheckpoint", monitor="val_mse", save_top_k=2)]
    straight = schedule_here(argv(tmp_path / "straight", hooks=hooks))
    killed = tmp_path / "killed"
    code = run_child(argv(killed, hooks=hooks + [dict(name="SigkillAt", iteration=7)]), tmp_path / "child.log")
    assert code == -9
    assert checkpoint(killed, "model_0000004.pth")["iteration"] == 4
    resumed = schedule_here(argv(killed, "--resume", hooks=hooks))
    assert resumed.start_iter == 4
    a, b = checkpoint(tmp_path / "straight"), checkpoint(killed)
    assert tensor_differences(a["model"], b["model"], "model") == []
    assert tensor_differences(a["trainer"], b["trainer"], "trainer") == []
    assert a["trainer"]["EarlyStopping{'monitor': 'val_mse', 'mode': 'min'}"]["waited"] > 0  # patience in play
    assert len(a["trainer"]["ModelCheckpoint{'monitor': 'val_mse', 'mode': 'min'}"]["best"]) == 2
    assert hook(resumed, "RecordingHook").steps == hook(straight, "RecordingHook").steps == 12


def test_early_stopping_stops_when_the_validation_loss_stops_improving(tmp_path):
    patience, min_delta = 3, 1e-3
    trainer = schedule_here(argv(tmp_path, "solver.max_iter", "300", "solver.eval_period", "2",
                                 "solver.checkpoint_period", "1000", "trainer.log_period", "100",
                                 "solver.generator.optimizer.params.lr", "0.5",
                                 hooks=[dict(name="EarlyStopping", monitor="val_mse", patience=patience,
                                             min_delta=min_delta)]))
    evals = [(r["iter"], r["val_mse"]) for r in records(tmp_path, "eval")]
    best, waited, stop = None, 0, None
    for it, value in evals:  # the rule, computed independently from the recorded results
        if best is None or value < best - min_delta:
            best, waited = value, 0
        else:
            waited += 1
        if waited == patience:
            stop = it
            break
    assert stop is not None and stop < 300 and evals[-1][0] == stop
    assert checkpoint(tmp_path)["iteration"] == stop
    assert trainer.stop_request.reason.startswith("EarlyStopping: val_mse did not improve")
    assert trainer.stop_request.reason in open(tmp_path / "line" / "log.txt").read()


def test_save_top_k_keeps_the_k_best_and_never_the_resumed_from_one(tmp_path):
    hooks = [dict(name="ModelCheckpoint", monitor="val_mse", mode="min", save_top_k=2)]
    schedule_here(argv(tmp_path, "solver.eval_period", "2", hooks=hooks))

    def best_two():
        latest = {r["iter"]: r["val_mse"] for r in records(tmp_path, "eval")}  # a re-evaluation wins
        return sorted(f"model_top_{it:07d}.pth" for it in sorted(latest, key=latest.get)[:2])

    assert top_files(tmp_path) == best_two() == ["model_top_0000010.pth", "model_top_0000012.pth"]
    # resume from the second best; it falls out of the top 2 later but is kept
    folder = tmp_path / "line" / "checkpoints"
    for name in ("model_final.pth", "model_top_0000012.pth"):
        (folder / name).unlink()
    (folder / "last_checkpoint").write_text("model_top_0000010.pth\n")
    resumed = schedule_here(argv(tmp_path, "--resume", "solver.eval_period", "2", "solver.max_iter", "16",
                                 hooks=hooks))
    assert resumed.start_iter == 10
    assert "model_top_0000010.pth" not in best_two()
    assert top_files(tmp_path) == sorted(best_two() + ["model_top_0000010.pth"])


def test_self_log_from_run_step_is_reduced_over_two_processes(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    codes = run_two_processes(argv(tmp_path, "solver.max_iter", "4", "solver.eval_period", "0",
                                   "trainer.dist_timeout", "120"), tmp_path)
    assert codes == [0, 0], open(tmp_path / "rank1.log").read()[-3000:]
    train = records(tmp_path, "train")
    assert [r["iter"] for r in train] == [2, 4]
    assert all(r["acc"] == 0.5 and r["acc_t"] == 1.5 for r in train)  # ranks 0 and 1; 1 and 2
    events = EventAccumulator(str(tmp_path / "line"))
    events.Reload()
    assert [e.value for e in events.Scalars("train/acc")] == [0.5, 0.5]
    assert [e.value for e in events.Scalars("train/acc_t")] == [1.5, 1.5]


def test_one_process_logs_the_run_step_values_unreduced(recorded):
    out, _ = recorded
    assert all(r["acc"] == 0.0 and r["acc_t"] == 1.0 for r in records(out, "train"))


@pytest.mark.parametrize("hooks, message", [
    ([dict(name="NoSuchHook")], "trainer.hooks[0].name"),
    ([dict(name="EarlyStopping", monitor="val_mse", patients=3)], "trainer.hooks[0]: the parameters given do not fit EarlyStopping"),
    ([dict(name="EarlyStopping", monitor="val_mse", mode="up")], "EarlyStopping: mode must be 'max' or 'min'"),
    ([dict(name="RecordingHook"), dict(name="NotAHook")], "trainer.hooks[1]: NotAHook is not a HookBase subclass"),
    ([dict(monitor="val_mse")], "trainer.hooks[0]"),
    ([dict(name="RecordingHook"), dict(name="RecordingHook")], "two hooks keep their checkpoint state under one "
                                                               "state_key ['RecordingHook']"),
], ids=["unknown-name", "bad-kwargs", "bad-mode", "not-a-hook", "no-name", "same-state-key"])
def test_a_bad_hook_config_is_one_clear_error(tmp_path, capsys, hooks, message):
    assert schedule_here(argv(tmp_path, hooks=hooks)) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "line" / "checkpoints").exists()


def test_priorities_are_ordered_as_documented():
    assert Priority.SEED_METHODS < Priority.NONFINITE < Priority.MONITOR < Priority.NORMAL < Priority.LOGGER \
        < Priority.WRITER < Priority.EVAL < Priority.EARLY_STOPPING < Priority.BEST < Priority.CHECKPOINT \
        < Priority.PREEMPTION < Priority.LOWEST


def test_monitors_log_every_learning_rate_the_gradient_norm_and_a_model_summary(tmp_path):
    trainer = schedule_here(argv(tmp_path, "solver.max_iter", "4", "trainer.log_period", "1",
                                 "solver.eval_period", "0", hooks=[
                                     dict(name="LearningRateMonitor"), dict(name="GradientNormMonitor"),
                                     dict(name="ModelSummary"), dict(name="GradNormProbe")]))
    train = records(tmp_path, "train")
    assert [r["lr/g_solver"] for r in train] == [0.05] * 4
    probe = hook(trainer, "GradNormProbe").norms
    assert [r["grad_norm/g_solver"] for r in train] == pytest.approx(probe, rel=1e-5)
    log = open(tmp_path / "line" / "log.txt").read()
    summary = log[log.index("model summary:"):]
    assert re.search(r"module\s+type\s+params\s+trainable\s+frozen", summary)
    assert re.search(r"g_model\.fc\s+Linear\s+2\s+2\s+0\n", summary)


def test_learning_rate_monitor_logs_every_optimizer_of_a_gan(tmp_path):
    from conftest import ROOT

    trainer = schedule_here(["--config-file", os.path.join(ROOT, "codes", "configs", "digits_gan.py"),
                             "output_dir", str(tmp_path), "output_log_name", "line", "trainer.progress_bar", "False",
                             "dataloader.num_workers", "0", "solver.max_iter", "2", "solver.eval_period", "0",
                             "trainer.log_period", "1", "solver.generator.lr_scheduler.params.warmup_iter", "1",
                             "solver.discriminator.lr_scheduler.params.warmup_iter", "1",
                             "trainer.hooks", "[{'name': 'LearningRateMonitor'}]"])
    names = [f"lr/{name}" for name in trainer.model.solvers]
    assert len(names) >= 2 and any(name.startswith("lr/d_solvers.") for name in names)
    train = records(tmp_path, "train")
    assert len(train) == 2 and all(all(r[n] > 0 for n in names) for r in train)
    # the rate each step trains with: the trainer's own 'lr' is g_solver's, read before the step
    assert [r["lr/g_solver"] for r in train] == [r["lr"] for r in train]
    assert train[0]["lr/g_solver"] != train[1]["lr/g_solver"]  # warmup: it moves
