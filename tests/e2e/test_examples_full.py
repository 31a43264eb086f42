"""The examples' full runs reach their targets (doc/examples.md). Slow: minutes each, so
marked ``slow`` and left out of the default suite; run them with

    python -m pytest -m slow tests/e2e/test_examples_full.py
"""
import json
import os

import pytest

from conftest import ROOT, run_train

TARGETS = {  # config -> (metric, target)
    "digits_seg": ("mIoU", 0.70),
    "digits_det": ("mAP_50", 0.85),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_full_example_run_reaches_its_target(tmp_path, name):
    metric, target = TARGETS[name]
    config = os.path.join(ROOT, "codes", "configs", f"{name}.py")
    result = run_train(["--config-file", config, "output_dir", str(tmp_path), "trainer.progress_bar", "False"],
                       timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / name / "metrics.jsonl") as f:
        final = [r for r in map(json.loads, f) if r["type"] == "eval"][-1]
    assert final[metric] >= target, f"{name}: final {metric} {final[metric]:.4f} < target {target}"
