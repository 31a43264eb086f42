"""The pretrain -> wash -> fine-tune -> test -> export pipeline (codes/pipelines), with few
iterations, and the wash step's key filter (engine-ckpt-deploy --keep).

The script's main() runs in this process with the arguments of its command line (every
step in it already runs in one process, as the script does)."""
import importlib.util
import json
import os

import pytest
import torch

from conftest import ROOT
from engine.tools import ckpt_deploy

SCRIPT = os.path.join(ROOT, "codes", "pipelines", "pretrain_finetune.py")


def test_pipeline_pretrains_washes_finetunes_tests_and_exports(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("pretrain_finetune", SCRIPT)
    pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipeline)
    pipeline.main(["--output-dir", str(tmp_path), "--pretrain-iter", "30", "--finetune-iter", "30",
                   "--workers", "0"])  # a failed step raises SystemExit
    stdout = capsys.readouterr().out
    backbone = torch.load(tmp_path / "backbone.pth", weights_only=True)
    assert backbone and all(k.startswith("features.") for k in backbone)  # no projection, no CosFace weights
    log = (tmp_path / "finetune" / "log.txt").read_text()
    assert "trainer.weights: 2 missing, 0 unexpected, 0 shape-mismatched" in log  # only the new classifier
    metrics = json.loads((tmp_path / "test" / "metrics.json").read_text())["metrics"]
    trained = [json.loads(line) for line in open(tmp_path / "finetune" / "metrics.jsonl")]
    assert metrics["accuracy"] == [r for r in trained if r["type"] == "eval"][-1]["accuracy"]
    assert (tmp_path / "digits.onnx").stat().st_size > 0
    assert "verify: output @ batch 7" in stdout


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {"g_model": {"backbone.features.0.weight": torch.ones(2),
                                      "backbone.classifier.weight": torch.ones(3), "head.w": torch.ones(1)},
                          "g_solver": {}}, "iteration": 3}, path)
    return str(path)


def test_deploy_keep_filters_keys_after_stripping(tmp_path, checkpoint):
    out = tmp_path / "bb.pth"
    assert ckpt_deploy.main([checkpoint, str(out), "--strip-prefix", "backbone.", "--keep", r"^features\."]) == 0
    assert list(torch.load(out, weights_only=True)) == ["features.0.weight"]


def test_deploy_keep_that_matches_nothing_is_an_error_and_writes_nothing(tmp_path, checkpoint, capsys):
    out = tmp_path / "bb.pth"
    assert ckpt_deploy.main([checkpoint, str(out), "--keep", "^nothing"]) == 2
    assert "--keep ['^nothing'] matches none of the 3 keys" in capsys.readouterr().err
    assert ckpt_deploy.main([checkpoint, str(out), "--keep", "("]) == 2
    assert "--keep: not a regular expression" in capsys.readouterr().err
    assert not out.exists()
