"""One tiny digits run shared by the deployment tests (engine-test, engine-export,
Predictor, the weights rule): 4 iterations with EMA, trained once per session, in process."""
import json
import os

import pytest

from fault_tolerance_helpers import DIGITS_PY, run_here

OVERRIDES = ["dataloader.num_workers", "0", "dataloader.val_data_set.val_fraction", "0.05"]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """(run folder, final checkpoint, the final evaluation training logged)."""
    out = tmp_path_factory.mktemp("deploy")
    assert run_here(["--config-file", DIGITS_PY, "output_dir", str(out), "trainer.progress_bar", "False",
                     "solver.max_iter", "4", "solver.eval_period", "4", "solver.checkpoint_period", "4",
                     "solver.generator.lr_scheduler.params.warmup_iter", "1", *OVERRIDES]) == 0
    run_dir = os.path.join(str(out), "digits")
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        evals = [r for r in map(json.loads, f) if r["type"] == "eval"]
    return run_dir, os.path.join(run_dir, "checkpoints", "model_final.pth"), evals[-1]


def nan_checkpoint(ckpt, path) -> str:
    """A copy of ``ckpt`` whose float tensors (every network, the EMA's too) are all NaN:
    a diverged model, to check that nothing scores or exports it as a good one."""
    import torch

    payload = torch.load(ckpt, weights_only=True)
    for state in payload["model"].values():
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                value.fill_(float("nan"))
    torch.save(payload, path)
    return str(path)
