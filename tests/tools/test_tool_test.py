"""engine-test: the metrics training logged, per-sample predictions, pictures, bad input."""
import json
import os
import subprocess
import sys

import pytest

from engine.tools import test as test_tool

from fault_tolerance_helpers import DIGITS_PY, ROOT
from trained_digits import OVERRIDES, digits_run, nan_checkpoint  # noqa: F401  (fixture)
from unwritable_places import unwritable  # noqa: F401  (fixture)


def test_reports_exactly_the_accuracy_the_final_evaluation_logged(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, logged = digits_run
    out = tmp_path / "preds.jsonl"
    code = test_tool.main(["--config-file", DIGITS_PY, "--weights", ckpt, "--work-dir", str(tmp_path / "w"),
                           "--out", str(out), "--show-dir", str(tmp_path / "show"), *OVERRIDES])
    assert code == 0
    printed = capsys.readouterr().out
    assert "the EMA weights (g_ema)" in printed and "accuracy" in printed and "top3_accuracy" in printed
    record = json.load(open(tmp_path / "w" / "metrics.json"))
    assert record["metrics"] == {"accuracy": logged["accuracy"], "top3_accuracy": logged["top3_accuracy"]}
    assert os.path.isfile(tmp_path / "w" / "confusion_matrix.png")
    rows = [json.loads(line) for line in open(out)]
    assert [r["index"] for r in rows] == list(range(len(rows))) and set(rows[0]) == {"index", "label", "score", "target"}
    assert sum(r["label"] == r["target"] for r in rows) / len(rows) == logged["accuracy"]
    assert len(os.listdir(tmp_path / "show")) == len(rows)


def test_eval_selects_metrics_and_refuses_unknown_ones(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, logged = digits_run
    args = ["--config-file", DIGITS_PY, "--weights", ckpt, "--work-dir", str(tmp_path), *OVERRIDES]
    assert test_tool.main(args + ["--eval", "accuracy"]) == 0
    assert json.load(open(tmp_path / "metrics.json"))["metrics"] == {"accuracy": logged["accuracy"]}
    assert test_tool.main(args + ["--eval", "mIoU"]) == 2
    assert "--eval mIoU: ClassificationEvaluator reports ['accuracy', 'top3_accuracy']" in capsys.readouterr().err


def test_weights_that_do_not_fit_the_network_are_one_error_with_the_table(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    code = test_tool.main(["--config-file", DIGITS_PY, "--weights", ckpt, "--work-dir", str(tmp_path),
                           *OVERRIDES, "trainer.model.generator.width", "8"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --weights: the weights of")
    assert "do not fit the network" in err and "shape mismatch" in err and "features.0.weight" in err
    assert "16x1x3x3" in err and "8x1x3x3" in err


def test_missing_weights_file_and_num_gpus(tmp_path, capsys):
    assert test_tool.main(["--config-file", DIGITS_PY, "--weights", str(tmp_path / "no.pth")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert test_tool.main(["--config-file", DIGITS_PY, "--weights", DIGITS_PY, "--num-gpus", "2"]) == 2
    assert "--eval-only --num-gpus 2" in capsys.readouterr().err


def test_runs_as_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "engine.tools.test", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--show-dir" in proc.stdout


def test_fuse_conv_bn_keeps_the_outputs_and_metrics(digits_run, tmp_path, capsys):  # noqa: F811
    import torch
    from torch import nn

    from engine.inference.fuse import fuse_conv_bn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Sequential(nn.Conv2d(4, 2, 1), nn.BatchNorm2d(2)))
    for bn in (net[1], net[3][1]):
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    x = torch.randn(2, 1, 8, 8)
    expected = net.eval()(x)
    assert fuse_conv_bn(net) == 2 and isinstance(net[1], nn.Identity)
    assert torch.allclose(net(x), expected, atol=1e-5)
    _, ckpt, logged = digits_run
    assert test_tool.main(["--config-file", DIGITS_PY, "--weights", ckpt, "--work-dir", str(tmp_path),
                           "--fuse-conv-bn", *OVERRIDES]) == 0
    fused = json.load(open(tmp_path / "metrics.json"))["metrics"]
    assert abs(fused["accuracy"] - logged["accuracy"]) < 0.02


def test_pictures_draw_masks_boxes_and_captions():
    import numpy as np

    from engine.tools.show import draw_prediction

    img = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[4:, 4:] = 1
    drawn = draw_prediction(img, {"mask": mask, "boxes": [[0, 0, 3, 3]], "labels": [2], "scores": [0.9]},
                            min_size=64)
    assert drawn.shape == (64, 64, 3)
    assert drawn[60, 60].any() and not drawn[40, 10].any()  # the mask's class colour; background untouched
    assert drawn[20, 0].any()  # the box's left edge (x=0, y in 0..24)


def test_show_score_thr_leaves_low_scored_boxes_out_of_the_picture():
    import numpy as np

    from engine.tools.show import draw_prediction

    img = np.zeros((32, 32, 3), np.uint8)
    both = dict(boxes=[[2, 2, 12, 12], [16, 16, 30, 30]], labels=[1, 2], scores=[0.9, 0.1])
    strong = dict(boxes=[[2, 2, 12, 12]], labels=[1], scores=[0.9])
    drawn = draw_prediction(img, both, score_thr=0.3)
    assert np.array_equal(drawn, draw_prediction(img, strong))          # only the 0.9 box
    assert not np.array_equal(draw_prediction(img, both), drawn)        # threshold 0 draws both


def test_show_score_thr_outside_0_1_is_refused_before_any_work(tmp_path, capsys):
    code = test_tool.main(["--config-file", DIGITS_PY, "--weights", str(tmp_path / "no.pth"),
                           "--show-dir", str(tmp_path / "show"), "--show-score-thr", "1.5"])
    assert code == 2
    assert "--show-score-thr 1.5: expected a score between 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_show_score_thr_is_checked_without_show_dir_too(tmp_path, capsys, value):
    code = test_tool.main(["--config-file", DIGITS_PY, "--weights", str(tmp_path / "no.pth"),
                           "--show-score-thr", value])
    assert code == 2
    assert f"--show-score-thr {float(value):g}: expected a score between 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize("place", ["under a file", "read-only"])
@pytest.mark.parametrize("option", ["--work-dir", "--out", "--show-dir"])
def test_unwritable_output_places_are_one_error_line_before_any_output(digits_run, tmp_path, capsys,  # noqa: F811
                                                                       unwritable,  # noqa: F811
                                                                       option, place):
    _, ckpt, _ = digits_run
    work = tmp_path / "w"
    target = unwritable[place] + ("/preds.jsonl" if option == "--out" else "")
    argv = ["--work-dir", str(work)] if option != "--work-dir" else []
    code = test_tool.main(["--config-file", DIGITS_PY, "--weights", ckpt, option, target, *argv, *OVERRIDES])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: cannot "), err
    assert f"the {option} " in err[0] and f"set {option} " in err[0]
    assert not (work / "metrics.json").exists()


def test_out_is_strict_json_and_metrics_are_null_for_a_diverged_model(
        digits_run, tmp_path, capsys, caplog):  # noqa: F811
    _, ckpt, _ = digits_run
    nan_ckpt = nan_checkpoint(ckpt, tmp_path / "nan.pth")
    out = tmp_path / "preds.jsonl"
    assert test_tool.main(["--config-file", DIGITS_PY, "--weights", nan_ckpt, "--work-dir", str(tmp_path / "w"),
                           "--out", str(out), *OVERRIDES]) == 0
    strict = {"parse_constant": lambda name: pytest.fail(f"bare {name} in the JSON")}
    metrics = json.loads((tmp_path / "w" / "metrics.json").read_text(), **strict)["metrics"]
    assert metrics == {"accuracy": None, "top3_accuracy": None}
    rows = [json.loads(line, **strict) for line in open(out)]
    assert rows and all(r["label"] == -1 and r["score"] is None for r in rows)
    assert "ClassificationEvaluator: " in caplog.text and "have non-finite outputs" in caplog.text
    assert [line.split() for line in capsys.readouterr().out.splitlines() if "accuracy" in line] == [
        ["accuracy", "nan"], ["top3_accuracy", "nan"]]


def test_out_with_the_default_evaluator_from_another_folder_with_the_runs_config(
        digits_run, tmp_path, monkeypatch):  # noqa: F811
    """No evaluator named (the validation loss): --out still writes each sample's
    generator outputs (raw logits: the digits model has no postprocess) and its target,
    from which the accuracy training logged is measured outside the engine."""
    run_dir, ckpt, logged = digits_run
    monkeypatch.chdir(tmp_path)  # not the repository: the run's config.yaml finds the project
    assert test_tool.main(["--config-file", os.path.join(run_dir, "config.yaml"), "--weights", ckpt,
                           "--work-dir", "w", "--out", "preds.jsonl", "--show-dir", "show",
                           "trainer.evaluator.name", "''", *OVERRIDES]) == 0
    assert set(json.load(open("w/metrics.json"))["metrics"]) == {"val_cls"}  # the loss term of run_step
    rows = [json.loads(line) for line in open("preds.jsonl")]
    assert set(rows[0]) == {"index", "output", "target"} and len(rows[0]["output"]) == 10
    right = sum(max(range(10), key=r["output"].__getitem__) == r["target"] for r in rows)
    assert right / len(rows) == logged["accuracy"] and len(os.listdir("show")) == len(rows)
