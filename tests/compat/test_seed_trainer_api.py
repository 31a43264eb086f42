"""The seed's trainer extension points (loop, create_model, create_dataset,
set_collate_fn, a custom lunch_func), trainer.enable_epoch_method, and the edges of a
session: a stop signal before/at the first step, --eval-only in an existing run,
extending a finished run. All on the tiny line project of hook_project.py."""
import glob
import json
import os
import signal
import time

import pytest
import torch
from torch.utils.data import default_collate

from engine.schedule.scheduler import BaseScheduler
from engine.trainer.build import BUILD_TRAINER_REGISTRY, build_trainer
from engine.trainer.trainer import BaseTrainer

from hook_project import HookLine, run_child, schedule_here, start_child, write_config
from fault_tolerance_helpers import tensor_differences

COLLATED = {"train": [], "valid": []}


def argv(out, *extra):
    return ["--config-file", write_config(out), "output_dir", str(out), *extra]


def records(out, kind="eval"):
    with open(os.path.join(out, "line", "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r["type"] == kind]


def checkpoint(out, name="model_final.pth"):
    return torch.load(os.path.join(out, "line", "checkpoints", name), weights_only=True)


def counting_collate(split):
    def collate(samples):
        COLLATED[split].append(len(samples))
        return default_collate(samples)
    return collate


@BUILD_TRAINER_REGISTRY.register()
class SeedStyleTrainer(BaseTrainer):
    """Written as a seed project writes its trainer."""

    def set_collate_fn(self, cfg):
        self.collate_train_fn = counting_collate("train")
        self.collate_valid_fn = counting_collate("valid")

    def create_dataset(self, cfg):
        return HookLine(size=40), HookLine(size=16, noise=0.0)  # the seed's (train, valid)

    def create_model(self, cfg):
        self.model_created_by_seed_method = True
        return super().create_model(cfg)

    def loop(self):
        self.loop_called = True
        super().loop()


class SeedScheduler(BaseScheduler):
    """The seed's custom scheduler: its own lunch_func."""

    def lunch_func(self, cfg, args):
        trainer = build_trainer(cfg)
        trainer.resume_or_load(args.resume)
        trainer.loop()
        return trainer


def test_a_seed_style_project_trains_through_its_own_lunch_func(tmp_path):
    COLLATED["train"].clear()
    COLLATED["valid"].clear()
    trainer = SeedScheduler().schedule(argv(tmp_path, "trainer.name", "SeedStyleTrainer", "solver.max_iter", "6",
                                            "solver.eval_period", "3"))
    assert type(trainer).__name__ == "SeedStyleTrainer"
    assert trainer.loop_called and trainer.model_created_by_seed_method and trainer.test_set is None
    assert COLLATED["train"] == [8] * 6 and COLLATED["valid"] == [16, 16]  # 2 evaluations of one batch
    assert checkpoint(tmp_path)["iteration"] == 6
    assert [r["iter"] for r in records(tmp_path)] == [3, 6]
    assert trainer.evaluator.output_dir == os.path.join(str(tmp_path), "line", "eval")


@BUILD_TRAINER_REGISTRY.register()
class BadDatasetsTrainer(BaseTrainer):
    def create_dataset(self, cfg):
        return HookLine()


def test_create_dataset_returning_something_else_is_one_clear_error(tmp_path, capsys):
    assert schedule_here(argv(tmp_path, "trainer.name", "BadDatasetsTrainer")) == 2
    assert "BadDatasetsTrainer.create_dataset must return (train, val) or (train, val, test), got HookLine" \
        in capsys.readouterr().err


def test_eval_only_evaluates_the_test_set_when_it_is_named(tmp_path):
    schedule_here(argv(tmp_path, "solver.max_iter", "2", "solver.eval_period", "0"))
    results = schedule_here(argv(tmp_path, "--eval-only", "dataloader.test_data_set",
                                 "{'name': 'HookLine', 'size': 8, 'noise': 0.0}"))
    assert set(results) == {"val_mse"}
    assert records(tmp_path)[-1] == {"type": "eval", "iter": 2, "split": "test", **results}


# --------------------------------------------------------------------------- epochs
EPOCHS = ["trainer.enable_epoch_method", "True", "dataloader.train_data_set.size", "44",
          "solver.max_iter", "3", "solver.checkpoint_period", "1", "solver.eval_period", "1"]


def test_enable_epoch_method_counts_max_iter_and_periods_in_epochs(tmp_path):
    trainer = schedule_here(argv(tmp_path, *EPOCHS))
    # 44 samples, 8 per step: ceil(5.5) = 6 steps per epoch
    assert trainer.max_iter == 18 and checkpoint(tmp_path)["iteration"] == 18
    assert [r["iter"] for r in records(tmp_path)] == [6, 12, 18]
    assert sorted(os.listdir(tmp_path / "line" / "checkpoints")) == [
        "last_checkpoint", "model_0000006.pth", "model_0000012.pth", "model_final.pth"]
    written = open(tmp_path / "line" / "config.yaml").read()  # the user's config: still in epochs
    assert "enable_epoch_method: true" in written.lower() and "max_iter: 3\n" in written.lower()


def test_enable_epoch_method_resumes_bitwise_after_a_kill_mid_epoch(tmp_path):
    schedule_here(argv(tmp_path / "straight", *EPOCHS))
    killed = tmp_path / "killed"
    hooks = "[{'name': 'SigkillAt', 'iteration': 9}]"  # in the middle of epoch 2 (steps 6..11)
    assert run_child(argv(killed, *EPOCHS, "trainer.hooks", hooks), tmp_path / "child.log") == -9
    resumed = schedule_here(argv(killed, "--resume", *EPOCHS))
    assert resumed.start_iter == 6
    a, b = checkpoint(tmp_path / "straight"), checkpoint(killed)
    assert tensor_differences(a["model"], b["model"]) == []


# --------------------------------------------------------------------------- signals
@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_before_the_first_step_exits_without_training(tmp_path, signame, code):
    hooks = f"[{{'name': 'SignalAt', 'signame': '{signame}', 'stage': 'before_train'}}]"
    assert run_child(argv(tmp_path, "trainer.hooks", hooks), tmp_path / "child.log") == code
    assert not glob.glob(str(tmp_path / "line" / "checkpoints" / "*.pth"))
    assert records(tmp_path, "train") == []
    assert f"{signame} received before the first step of this session: exiting without training" \
        in open(tmp_path / "line" / "log.txt").read()


def test_a_signal_in_the_first_step_saves_after_it_and_exits(tmp_path):
    hooks = "[{'name': 'SignalAt', 'signame': 'SIGTERM', 'stage': 'first_step'}]"
    assert run_child(argv(tmp_path, "trainer.hooks", hooks), tmp_path / "child.log") == 143
    assert checkpoint(tmp_path, "model_0000001.pth")["iteration"] == 1
    assert open(tmp_path / "line" / "checkpoints" / "last_checkpoint").read().strip() == "model_0000001.pth"


# --------------------------------------------------------------------------- sessions
def events_files(out):
    return glob.glob(str(out / "line" / "events.out.tfevents*"))


def test_eval_only_in_a_run_directory_does_not_repeat_a_record_and_says_so(tmp_path):
    schedule_here(argv(tmp_path, "solver.max_iter", "4", "solver.eval_period", "0"))
    before, files = records(tmp_path), events_files(tmp_path)
    results = schedule_here(argv(tmp_path, "--eval-only"))
    assert records(tmp_path) == before and before[-1] == {"type": "eval", "iter": 4, **results}
    assert events_files(tmp_path) == files
    log = open(tmp_path / "line" / "log.txt").read()
    assert "already holds this evaluation (iteration 4, same results): not appended again" in log
    # another evaluation (a smaller validation set) at the same iteration is appended, and said
    other = schedule_here(argv(tmp_path, "--eval-only", "dataloader.val_data_set.size", "4"))
    assert records(tmp_path)[-1] == {"type": "eval", "iter": 4, **other} and len(records(tmp_path)) == 2
    assert len(events_files(tmp_path)) == len(files) + 1
    log = open(tmp_path / "line" / "log.txt").read()
    assert "at iteration 4 (it holds another evaluation at that iteration), TensorBoard eval/* written to a new " \
           "events file" in log


def test_extending_a_finished_run_notes_that_model_final_is_overwritten(tmp_path):
    schedule_here(argv(tmp_path, "solver.max_iter", "4"))
    trainer = schedule_here(argv(tmp_path, "--resume", "solver.max_iter", "6"))
    assert trainer.start_iter == 4 and checkpoint(tmp_path)["iteration"] == 6
    log = open(tmp_path / "line" / "log.txt").read()
    assert "extending a finished run from iteration 4 to 6 (solver.max_iter):" in log
    assert "model_final.pth (iteration 4) will be overwritten at the end" in log


def warmup(steps):
    return ["solver.generator.lr_scheduler", repr({"enabled": True, "type": "LRMultiplierScheduler", "params": {
        "lr_scheduler_param": {"name": "WarmupCosineLR"}, "warmup_iter": steps}})]


def test_enable_epoch_method_checks_warmup_steps_against_the_steps_of_the_epochs(tmp_path, capsys):
    trainer = schedule_here(argv(tmp_path / "ok", *EPOCHS, *warmup(5)))  # 5 steps < 3 epochs of 6 steps
    assert trainer.max_iter == 18
    assert schedule_here(argv(tmp_path / "bad", *EPOCHS, *warmup(50))) == 2
    assert "warmup_iter=50 is longer than max_iter=18" in capsys.readouterr().err


@pytest.mark.parametrize("delay", [0.0, 0.02])
def test_ctrl_c_while_the_loader_workers_start_stops_the_run_with_130(tmp_path, delay):
    """Ctrl-C (SIGINT to the process group) just after 'training from iteration' is
    logged, while the loader's workers start: the run exits 130 at once (before the first
    step) or after a step with its checkpoint; it never trains on to the end."""
    log = tmp_path / "child.log"
    process = start_child(argv(tmp_path, "dataloader.num_workers", "2", "solver.max_iter", "100000",
                               "solver.eval_period", "0", "solver.checkpoint_period", "100000"), log)
    deadline = time.time() + 60
    while "training from iteration" not in (log.read_text() if log.exists() else ""):
        assert process.is_alive() and time.time() < deadline, log.read_text()
        time.sleep(0.002)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGINT)
    process.join(60)
    assert process.exitcode == 130, log.read_text()[-3000:]
    names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "line" / "checkpoints" / "*.pth")))
    if names:  # stopped after a step: that step's checkpoint, named in last_checkpoint
        last = (tmp_path / "line" / "checkpoints" / "last_checkpoint").read_text().strip()
        assert names == [last] and checkpoint(tmp_path, last)["iteration"] >= 1


def test_only_the_empty_step_methods_are_skipped(monkeypatch):
    # iterate_before/iterate_after are not called while they are SeedTrainerAPI's empty
    # ones; a subclass's, an instance's or a function later set on the class is called
    from engine.compat.seed.trainer_api import SeedTrainerAPI, _is_default

    class Plain(SeedTrainerAPI):
        pass

    class Own(SeedTrainerAPI):
        def iterate_after(self, epoch, loss_dict=None):
            pass

    plain = Plain.__new__(Plain)
    assert _is_default(plain.iterate_after, "iterate_after") and _is_default(plain.iterate_before, "iterate_before")
    assert not _is_default(Own.__new__(Own).iterate_after, "iterate_after")
    plain.iterate_before = lambda epoch: None
    assert not _is_default(plain.iterate_before, "iterate_before")
    monkeypatch.setattr(SeedTrainerAPI, "iterate_after", lambda self, epoch, loss_dict=None: None)
    assert not _is_default(Plain.__new__(Plain).iterate_after, "iterate_after")
