"""Issue 25 (reliability, round 3), the trainer and the launcher: settings refused before
anything is written, hook states that always load back, stopped runs that can be
extended, the resume fallback, signals during an evaluation or a save. (A full disk
under log.txt or TensorBoard: test_cli_errors.py; several processes:
test_distributed_agreement.py, test_distributed_errors.py.)

The runs are the tiny line project of hook_project.py (well under a second each) or a
few digits steps, in this process."""
import os
import signal

import numpy as np
import pytest
import torch

import codes  # noqa: F401  (registers the digits example)
import hook_project  # noqa: F401  (registers the line project and its hooks)
from engine.trainer.hooks import BUILD_HOOK_REGISTRY, HookBase, Priority
from hook_project import schedule_here, write_config

from conftest import DIGITS_PY, ROOT

DIGITS_GAN_PY = os.path.join(ROOT, "codes", "configs", "digits_gan.py")


def line_argv(out, *extra, hooks=()):
    return ["--config-file", write_config(out), "output_dir", str(out), "trainer.hooks", repr(list(hooks)),
            *extra]


def one_error_line(capsys, code):
    assert code == 2, f"exit status {code}"
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err and "Logging error" not in err, err
    return lines[0]


def checkpoint(out, name="model_final.pth"):
    return torch.load(os.path.join(out, "line", "checkpoints", name), weights_only=True)


# --------------------------------------------------------------------------- item 16
def hooks(*nodes):
    return ["trainer.hooks", repr(list(nodes))]


@pytest.mark.parametrize("config, overrides, message", [
    (DIGITS_PY, ["trainer.model.ema.decay_rate", "1.5"], "trainer.model.ema.decay_rate must be in (0, 1), got 1.5"),
    (DIGITS_PY, ["trainer.model.ema.decay_rate", "0"], "trainer.model.ema.decay_rate must be in (0, 1)"),
    (DIGITS_PY, ["trainer.model.ema.decay_rate", "1"], "trainer.model.ema.decay_rate must be in (0, 1)"),
    (DIGITS_PY, ["trainer.model.ema.tau", "-1"], "trainer.model.ema.tau must be a number > 0"),
    (DIGITS_PY, ["solver.generator.optimizer.clip_gradients.clip_value", "-1"],
     "solver.generator.optimizer.clip_gradients.clip_value must be > 0"),
    (DIGITS_PY, hooks(dict(name="EarlyStopping", monitor="accuracy", mode="maximum")),
     "trainer.hooks[0]: EarlyStopping: mode must be 'max' or 'min', got 'maximum'"),
    (DIGITS_PY, hooks(dict(name="EarlyStopping", monitor="accuracy", patience=-1)),
     "trainer.hooks[0]: EarlyStopping: patience must be >= 1"),
    (DIGITS_PY, hooks(dict(name="ModelCheckpoint", monitor="accuracy", save_top_k=-5)),
     "trainer.hooks[0]: ModelCheckpoint: save_top_k must be -1 (all), 0 or more, got -5"),
    (DIGITS_PY, hooks(dict(name="NotAHook")), "trainer.hooks[0]: NotAHook is not a HookBase"),
    (DIGITS_PY, hooks(dict(name="EarlyStopping", monitor="accuracy", patience=2),
                      dict(name="EarlyStopping", monitor="accuracy", patience=5)),
     "two hooks keep their checkpoint state under one state_key "
     "[\"EarlyStopping{'monitor': 'accuracy', 'mode': 'min'}\"]"),
    (DIGITS_PY, ["solver.best_metric", "accuracy", *hooks(dict(name="BestKeyHook"))],
     "two hooks keep their checkpoint state under one state_key ['best']"),
    (DIGITS_PY, hooks(dict(name="NonfiniteKeyHook")),
     "a hook keeps its checkpoint state under the state_key 'nonfinite', which the trainer keeps"),
    (DIGITS_GAN_PY, ["solver.discriminator.lr_scheduler.params.warmup_iter", "500"],
     "warmup_iter=500 is longer than max_iter=3"),
    (DIGITS_PY, ["output_log_name", "''"], "output_log_name is empty"),
], ids=["ema-decay-1.5", "ema-decay-0", "ema-decay-1", "ema-tau", "clip-value", "early-stopping-mode",
        "early-stopping-patience", "save-top-k", "not-a-hook", "same-state-key", "best-state-key",
        "reserved-state-key", "discriminator-warmup", "empty-output-log-name"])
def test_settings_the_workers_would_refuse_are_refused_before_anything_is_written(tmp_path, capsys, config,
                                                                                  overrides, message):
    """doc/config.md: checked "before anything is written": no log.txt, no run.lock, no
    run directory at all (the launcher checks them, before any worker is spawned)."""
    code = schedule_here(["--config-file", config, "output_dir", str(tmp_path / "out"), "solver.max_iter", "3",
                          "dataloader.num_workers", "0", "solver.generator.lr_scheduler.params.warmup_iter", "1",
                          *overrides])
    line = one_error_line(capsys, code)
    assert message in line, line
    assert not (tmp_path / "out").exists(), os.listdir(tmp_path / "out")


def test_param_group_keys_pass_the_launch_check_and_train(tmp_path):
    """The launch check builds the optimizer on a dummy parameter: the param-group keys
    (rules on the real network's names) are the worker's to check, not a reason to refuse."""
    trainer = schedule_here(line_argv(tmp_path, "solver.max_iter", "2", "solver.eval_period", "0",
                                      "solver.generator.optimizer.weight_decay_bias", "0.0",
                                      "solver.generator.optimizer.param_groups", repr([{"pattern": "fc\\..*"}])))
    assert not isinstance(trainer, int), f"exit status {trainer}"
    assert len(trainer.model.g_solver.optimizer.param_groups) == 2  # weights, biases without decay


@BUILD_HOOK_REGISTRY.register()
class BestKeyHook(HookBase):
    """Keeps its state where BestCheckpoint (solver.best_metric) keeps its own."""

    state_key = "best"

    def state_dict(self):
        return {"n": 1}


@BUILD_HOOK_REGISTRY.register()
class NonfiniteKeyHook(HookBase):
    """Keeps its state where the trainer keeps its skipped-step count."""

    state_key = "nonfinite"

    def state_dict(self):
        return {"n": 1}


# --------------------------------------------------------------------------- item 6
@BUILD_HOOK_REGISTRY.register()
class NumpyStateHook(HookBase):
    """Keeps its numbers as NumPy values, as hooks computing metrics with NumPy do."""

    def __init__(self):
        self.best = np.float64(np.inf)
        self.count = np.int64(0)
        self.history = np.zeros(3)
        self.flag = np.bool_(False)
        self.loaded = None

    def after_step(self):
        mse = np.float64(self.trainer.step_result.floats()["mse"])
        self.best, self.count, self.flag = min(self.best, mse), self.count + 1, np.bool_(True)
        self.history = np.roll(self.history, 1)
        self.history[0] = mse

    def state_dict(self):
        return {"best": self.best, "count": self.count, "history": self.history, "flag": self.flag,
                "nested": [{"np": np.float32(0.5)}]}

    def load_state_dict(self, state):
        self.loaded = state
        self.best, self.count, self.flag = state["best"], state["count"], state["flag"]
        self.history = np.asarray(state["history"])


@BUILD_HOOK_REGISTRY.register()
class UnloadableStateHook(HookBase):
    """Keeps a value no checkpoint reader can load (a slice)."""

    def state_dict(self):
        return {"window": slice(0, 4)}


def test_a_hook_with_numpy_state_resumes(tmp_path):
    straight = schedule_here(line_argv(tmp_path / "straight", "solver.max_iter", "8",
                                       hooks=[dict(name="NumpyStateHook")]))
    assert not isinstance(straight, int), f"exit status {straight}"
    out = tmp_path / "stopped"
    assert not isinstance(schedule_here(line_argv(out, "solver.max_iter", "4", hooks=[dict(name="NumpyStateHook")])),
                          int)
    resumed = schedule_here(line_argv(out, "--resume", "solver.max_iter", "8", hooks=[dict(name="NumpyStateHook")]))
    assert not isinstance(resumed, int), f"exit status {resumed}"
    assert resumed.start_iter == 4
    loaded = next(h for h in resumed.hooks if isinstance(h, NumpyStateHook)).loaded
    assert loaded["count"] == 4 and type(loaded["count"]) is int and type(loaded["best"]) is float
    assert type(loaded["flag"]) is bool and torch.is_tensor(loaded["history"]) and loaded["nested"] == [{"np": 0.5}]
    a, b = checkpoint(tmp_path / "straight")["trainer"], checkpoint(out)["trainer"]
    assert a["NumpyStateHook"]["best"] == b["NumpyStateHook"]["best"] and b["NumpyStateHook"]["count"] == 8
    assert torch.equal(a["NumpyStateHook"]["history"], b["NumpyStateHook"]["history"])


def test_a_hook_state_that_would_not_load_is_refused_at_the_first_save(tmp_path, capsys):
    code = schedule_here(line_argv(tmp_path, "solver.max_iter", "8", hooks=[dict(name="UnloadableStateHook")]))
    line = one_error_line(capsys, code)
    assert "hook UnloadableStateHook's state_dict() (checkpoint key 'trainer.UnloadableStateHook') holds a " \
           "builtins.slice at ['window']" in line and "weights_only=True" in line, line
    assert not (tmp_path / "line" / "checkpoints" / "model_0000004.pth").exists()


# --------------------------------------------------------------------------- item 18
def test_a_run_stopped_by_a_hook_continues_when_resumed_with_another_max_iter(tmp_path):
    stopper = [dict(name="RecordingHook", stop_at=6)]
    assert not isinstance(schedule_here(line_argv(tmp_path, hooks=stopper)), int)
    same = schedule_here(line_argv(tmp_path, "--resume", hooks=stopper))  # the same command: still stopped
    assert same.start_iter == 6 and same.stop_request is not None
    log = (tmp_path / "line" / "log.txt").read_text()
    assert "training already stopped: RecordingHook asked to stop at 6" in log and "the stop is then lifted" in log

    extended = schedule_here(line_argv(tmp_path, "--resume", "solver.max_iter", "10"))
    assert not isinstance(extended, int), f"exit status {extended}"
    assert extended.start_iter == 6 and extended.stop_request is None and extended.finished
    assert checkpoint(tmp_path)["iteration"] == 10 and "stopped" not in checkpoint(tmp_path)["trainer"]
    log = (tmp_path / "line" / "log.txt").read_text()
    assert "the run was stopped at iteration 6 (RecordingHook asked to stop at 6); solver.max_iter and " \
           "trainer.hooks changed since: the stop is lifted, training continues to iteration 10" in log


# --------------------------------------------------------------------------- item 20
def test_eval_only_without_resume_says_nothing_about_resume(tmp_path, capsys):
    code = schedule_here(line_argv(tmp_path, "--eval-only"))
    assert "--eval-only: nothing to evaluate" in one_error_line(capsys, code)
    assert "--resume" not in (tmp_path / "line" / "log.txt").read_text()


def test_a_misspelt_optimizer_suggests_the_name_in_another_case_first(tmp_path, capsys):
    code = schedule_here(line_argv(tmp_path, "solver.generator.optimizer.type", "adamw"))
    assert "Did you mean 'AdamW'" in one_error_line(capsys, code)


RANKED = ("solver.best_metric", "val_mse", "solver.best_mode", "min", "solver.max_keep", "10")


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    """12 steps, checkpoints and evaluations every 4, the 3 best (val_mse) as model_top_*
    and model_best.pth: every file a whole state."""
    out = tmp_path_factory.mktemp("ranked")
    hooks = [dict(name="ModelCheckpoint", monitor="val_mse", save_top_k=3)]
    trainer = schedule_here(line_argv(out, *RANKED, hooks=hooks))
    assert not isinstance(trainer, int)
    return out, hooks


@pytest.mark.parametrize("damaged, removed, resumed_at", [
    (["model_final.pth", "model_0000008.pth"], ["model_top_0000012.pth"], 8),
    (["model_final.pth"], [], 12),
], ids=["top-k-newer-than-periodic", "top-k-at-the-last-step"])
def test_the_resume_fallback_takes_the_newest_top_k_periodic_or_final_file(ranked, tmp_path, damaged, removed,
                                                                           resumed_at):
    """model_top_* files are resume points (last_checkpoint names them): a newer one
    beats an older periodic file (8, not 4), and one at the last step writes model_final.pth
    again, equal to the straight run's. model_best.pth (iteration 12 here) is not one: it
    is written before ModelCheckpoint's after_eval of its step."""
    import shutil

    from fault_tolerance_helpers import tensor_differences

    out, hooks = ranked
    shutil.copytree(out / "line", tmp_path / "line")
    folder = tmp_path / "line" / "checkpoints"
    os.unlink(tmp_path / "line" / "run.lock")
    for name in damaged:
        (folder / name).write_bytes((folder / name).read_bytes()[:100])
    for name in removed:
        (folder / name).unlink()
    resumed = schedule_here(line_argv(tmp_path, "--resume", *RANKED, hooks=hooks))
    assert not isinstance(resumed, int), f"exit status {resumed}"
    assert resumed.start_iter == resumed_at, resumed.resumed_from
    a, b = checkpoint(out), checkpoint(tmp_path)  # model_final.pth written again, as the straight run's
    assert [d for key in ("model", "trainer", "rng", "iteration")
            for d in tensor_differences(a[key], b[key], key)] == []


# --------------------------------------------------------------------------- item 20: signals
@BUILD_HOOK_REGISTRY.register()
class SignalDuring(HookBase):
    """Sends this process ``signame`` during the evaluation of step ``at`` (in
    after_eval) or after that step's periodic checkpoint (``stage='save'``)."""

    def __init__(self, signame, at, stage="eval"):
        self.signum, self.at, self.stage = getattr(signal, signame), int(at), stage
        self.priority = Priority.EVAL + 1 if stage == "eval" else Priority.CHECKPOINT + 1

    def after_eval(self, results):
        if self.stage == "eval" and self.trainer.iter + 1 == self.at:
            os.kill(os.getpid(), self.signum)

    def after_step(self):
        if self.stage == "save" and self.trainer.iter + 1 == self.at:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("stage, extra", [("eval", ["solver.checkpoint_period", "100"]),
                                          ("save", ["solver.eval_period", "0"])])
def test_a_signal_during_a_steps_evaluation_or_save_stops_after_that_step(tmp_path, stage, extra):
    code = schedule_here(line_argv(tmp_path, *extra, hooks=[dict(name="SignalDuring", signame="SIGTERM", at=4,
                                                                 stage=stage)]))
    assert code == 143
    log = (tmp_path / "line" / "log.txt").read_text()
    assert "stopped by SIGTERM after iteration 4" in log, log[-2000:]
    assert (tmp_path / "line" / "checkpoints" / "last_checkpoint").read_text().strip() == "model_0000004.pth"
