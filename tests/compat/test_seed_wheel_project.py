"""A client project written against the released seed wheel, in the manner of SDDet (a
SOLOv2 instance segmentor): tests/seed_projects/inst_project. A ConcatDataset of
EngineDataSets with their own pipelines and a method of their own named ``pipeline``,
keep-ratio Resize and Pad32 giving images of several shapes, a padding collate from
set_collate_fn, a network whose head owns LossKeyCompose lists with the wheel's
arguments (BinaryDiceLoss reduction='none', the project's own focal loss), run_step
returning ``dict(loss=loss_mask + loss_cls, loss_mask=..., loss_cls=...)``, and an
after_loop reading the img_meta the pipeline recorded. Trained through its own train
script: to the end, after SIGKILL + --resume (bitwise), on 2 processes."""
import json
import os
import sys

import pytest

from conftest import ROOT
from test_seed_projects import ENV, kill_at_checkpoint, run, weights

INST = os.path.join(ROOT, "tests", "seed_projects", "inst_project")
HASHED_ENV = dict(ENV, PYTHONHASHSEED="0")


def inst_command(out, *extra):
    return [sys.executable, os.path.join(INST, "train.py"), "--config-file", os.path.join(INST, "configs", "inst.py"),
            "output_dir", str(out), "trainer.progress_bar", "False", *extra]


def records(run_dir, kind):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r.get("type") == kind]


@pytest.fixture(scope="module")
def inst_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("inst_out")
    run(inst_command(out), cwd=str(out))
    return out


def test_the_wheel_style_instance_project_trains_and_its_after_loop_runs(inst_run):
    run_dir = inst_run / "inst"
    result = json.loads((inst_run / "test_result.json").read_text())
    assert result["instances"] > 10 and result["mask_iou"] > 0.12, result  # untrained: 0 (no detection)
    assert len([f for f in os.listdir(inst_run) if f.endswith(".png")]) == 16  # one per test image
    log = (run_dir / "log.txt").read_text()
    assert "which the engine does not call" not in log
    train = records(run_dir, "train")
    # loss is the total; its parts are logged beside it, not added to it again
    for r in train:
        assert r["loss"] == pytest.approx(r["loss_mask"] + r["loss_cls"], rel=1e-4)
    assert train[-1]["loss"] < 0.75 * train[0]["loss"]
    final = records(run_dir, "eval")[-1]
    assert "val_total_loss" not in final and final["val_loss"] == pytest.approx(
        final["val_loss_mask"] + final["val_loss_cls"], rel=1e-4)


@pytest.mark.slow  # resume of seed projects: tests/compat/test_seed_projects.py in the default suite
def test_the_wheel_style_instance_project_resumes_bitwise_after_sigkill(inst_run, tmp_path):
    out = tmp_path / "killed"
    command = inst_command(out)
    kill_at_checkpoint(command, tmp_path, out / "inst" / "checkpoints" / "model_0000020.pth")
    assert not (out / "inst" / "checkpoints" / "model_final.pth").exists()
    done = run(command + ["--resume"], cwd=str(tmp_path))
    assert "resumed from" in done.stdout + done.stderr
    resumed, uninterrupted = weights(out / "inst"), weights(inst_run / "inst")
    assert resumed.keys() == uninterrupted.keys()
    for key in resumed:
        assert resumed[key].equal(uninterrupted[key]), key
    assert (out / "test_result.json").read_text() == (inst_run / "test_result.json").read_text()


@pytest.mark.slow  # 2 processes: tests/compat/test_seed_projects.py covers it in the default suite
def test_the_wheel_style_instance_project_trains_on_two_processes(tmp_path):
    run(inst_command(tmp_path, "--num-gpus", "2", "trainer.device", "cpu", "solver.max_iter", "20"), cwd=str(tmp_path))
    assert "processes: 2" in (tmp_path / "inst" / "log.txt").read_text()
    assert json.loads((tmp_path / "test_result.json").read_text())["instances"] > 10
