"""DESIGN invariant 4 through the real trainer and sampler: batch B as k micro-batches of
B/k trains like one batch of B (AMP off, a network without batch norm), and the LR
schedule counts optimizer steps, not micro-batches."""
import json

import torch

import codes  # noqa: F401
from engine.schedule.scheduler import BaseScheduler

from conftest import DIGITS_PY

MAX_ITER = 12


def run(out, accumulation):
    return BaseScheduler().schedule([
        "--config-file", DIGITS_PY, "output_dir", str(out), "dataloader.num_workers", "0",
        "dataloader.val_data_set.name", "", "trainer.progress_bar", "False",
        "trainer.model.generator.batch_norm", "False", "trainer.log_period", "4",
        "solver.max_iter", str(MAX_ITER), "solver.checkpoint_period", "1000",
        "solver.train_per_batch", "16", "solver.gradient_accumulation_batch", str(accumulation),
        "solver.generator.lr_scheduler.params.warmup_iter", "4"])


def test_four_micro_batches_train_like_one_batch(tmp_path):
    whole, parts = run(tmp_path / "whole", 1), run(tmp_path / "parts", 4)
    a, b = whole.model.state_dict(), parts.model.state_dict()
    for key in a["g_model"]:
        assert torch.allclose(a["g_model"][key], b["g_model"][key], rtol=1e-4, atol=1e-6), key
    for key in a["g_ema"]:
        if isinstance(a["g_ema"][key], torch.Tensor):
            assert torch.allclose(a["g_ema"][key], b["g_ema"][key], rtol=1e-4, atol=1e-6), key
    # one schedule step per optimizer step: 16, not 64
    assert a["g_solver"]["lr_scheduler"]["last_epoch"] == b["g_solver"]["lr_scheduler"]["last_epoch"] == MAX_ITER
    lrs = [[r["lr"] for r in map(json.loads, open(out / "digits" / "metrics.jsonl")) if r["type"] == "train"]
           for out in (tmp_path / "whole", tmp_path / "parts")]
    assert lrs[0] == lrs[1] and len(lrs[0]) == MAX_ITER // 4
