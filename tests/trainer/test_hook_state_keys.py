"""Hooks keyed by what they track: two ModelCheckpoint (and two EarlyStopping) hooks on
different monitors each keep their own state across a SIGKILL + --resume, and a
checkpoint that kept their states under the class name (before the keys named what
they track) still resumes them.

Every run is the tiny line project of hook_project.py (well under a second each)."""
import os

import torch

from engine.trainer.hooks import EarlyStopping, ModelCheckpoint

import hook_project  # noqa: F401  (registers the project, its evaluator and hooks)
from fault_tolerance_helpers import tensor_differences
from hook_project import run_child, schedule_here, write_config

TWO_RESULTS = ("trainer.evaluator", "{'name': 'HookLineTwoResults'}")  # val_mse and val_rmse


def argv(out, *extra, hooks=()):
    return ["--config-file", write_config(out), "output_dir", str(out), "trainer.hooks", repr(list(hooks)),
            *extra]


def checkpoint(out, name="model_final.pth"):
    return torch.load(os.path.join(out, "line", "checkpoints", name), weights_only=True)


def top_files(out):
    return sorted(n for n in os.listdir(os.path.join(out, "line", "checkpoints")) if n.startswith("model_top_"))


def test_two_model_checkpoints_on_different_monitors_each_resume_their_own_state(tmp_path):
    hooks = [dict(name="ModelCheckpoint", monitor="val_mse", mode="min", save_top_k=2),
             dict(name="ModelCheckpoint", monitor="val_rmse", mode="max", save_top_k=1),
             dict(name="EarlyStopping", monitor="val_mse", patience=20, min_delta=0.5),
             dict(name="EarlyStopping", monitor="val_rmse", mode="max", patience=20)]
    straight = schedule_here(argv(tmp_path / "straight", *TWO_RESULTS, hooks=hooks))
    keys = [h.state_key for h in straight.hooks if isinstance(h, (ModelCheckpoint, EarlyStopping))]
    assert keys == ["EarlyStopping{'monitor': 'val_mse', 'mode': 'min'}",
                    "EarlyStopping{'monitor': 'val_rmse', 'mode': 'max'}",
                    "ModelCheckpoint{'monitor': 'val_mse', 'mode': 'min'}",
                    "ModelCheckpoint{'monitor': 'val_rmse', 'mode': 'max'}"]
    killed = tmp_path / "killed"
    code = run_child(argv(killed, *TWO_RESULTS, hooks=hooks + [dict(name="SigkillAt", iteration=7)]),
                     tmp_path / "child.log")
    assert code == -9
    resumed = schedule_here(argv(killed, "--resume", *TWO_RESULTS, hooks=hooks))
    assert resumed.start_iter == 4
    a, b = checkpoint(tmp_path / "straight"), checkpoint(killed)
    assert tensor_differences(a["trainer"], b["trainer"], "trainer") == []
    lists = [a["trainer"][key]["best"] for key in keys[2:]]
    assert [len(best) for best in lists] == [2, 1] and lists[0][0][1] != lists[1][0][1]  # they disagree
    # a file one of them dropped is kept while the other still ranks it
    kept = sorted({name for best in lists for _, _, name in best})
    assert top_files(tmp_path / "straight") == top_files(killed) == kept


def test_a_checkpoint_with_the_former_class_name_keys_still_resumes_the_hooks(tmp_path):
    # both keep iteration 4's evaluation to the end: the loss falls, the largest stays the first
    hooks = [dict(name="EarlyStopping", monitor="val_mse", mode="max", patience=20),
             dict(name="ModelCheckpoint", monitor="val_mse", save_top_k=-1)]
    schedule_here(argv(tmp_path, hooks=hooks))
    straight = checkpoint(tmp_path)
    folder = tmp_path / "line" / "checkpoints"
    # iteration 4's checkpoint as the engine wrote it before: the states under the class names
    payload = torch.load(folder / "model_0000004.pth", weights_only=True)
    for key in list(payload["trainer"]):
        if "{" in key:
            payload["trainer"][key.split("{")[0]] = payload["trainer"].pop(key)
    assert {"EarlyStopping", "ModelCheckpoint"} <= set(payload["trainer"])
    assert payload["trainer"]["EarlyStopping"]["best_iter"] == 4 == straight["trainer"][
        "EarlyStopping{'monitor': 'val_mse', 'mode': 'max'}"]["best_iter"]
    torch.save(payload, folder / "model_0000004.pth")
    (folder / "model_final.pth").unlink()
    (folder / "last_checkpoint").write_text("model_0000004.pth\n")
    resumed = schedule_here(argv(tmp_path, "--resume", hooks=hooks))
    assert resumed.start_iter == 4
    assert tensor_differences(straight["trainer"], checkpoint(tmp_path)["trainer"], "trainer") == []
