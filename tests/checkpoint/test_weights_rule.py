"""The one weights rule: trainer.weights / --eval-only evaluate the checkpoint's EMA
weights (the issue's bug: they were replaced by a copy of the raw ones)."""
import torch

from engine.checkpoint.evaluated import ema_network_state, load_evaluated_weights
from engine.config.loader import load_cfg
from engine.model.build import build_model

from fault_tolerance_helpers import DIGITS_PY, run_here
from trained_digits import OVERRIDES, digits_run  # noqa: F401  (fixture)


def _model(*overrides):
    return build_model(load_cfg(DIGITS_PY, [*OVERRIDES, *overrides]))


def test_ema_network_gets_the_files_ema_weights_the_generator_the_raw_ones(digits_run):  # noqa: F811
    _, ckpt, _ = digits_run
    payload = torch.load(ckpt, map_location="cpu", weights_only=True)["model"]
    ema_weights, raw = ema_network_state(payload["g_ema"]), payload["g_model"]
    assert any(not torch.equal(ema_weights[k], raw[k]) for k in raw)  # the test means something
    model = _model()
    used = model.load_generator_weights(ckpt)  # what trainer.weights does
    assert used.startswith("the EMA weights (g_ema)")
    for k, v in model.g_ema.module.state_dict().items():
        assert torch.equal(v, ema_weights[k]), k
    for k, v in model.g_model.state_dict().items():
        assert torch.equal(v, raw[k]), k
    assert int(model.g_ema.n_averaged) == 0  # a fine-tuning run restarts the average at its first step
    no_ema = _model("trainer.model.ema.enable", "False")
    assert "EMA off" in load_evaluated_weights(no_ema, ckpt)
    for k, v in no_ema.g_model.state_dict().items():
        assert torch.equal(v, raw[k]), k


def test_eval_only_with_trainer_weights_reproduces_the_logged_evaluation(digits_run, tmp_path):  # noqa: F811
    _, ckpt, logged = digits_run
    assert run_here(["--config-file", DIGITS_PY, "--eval-only", "output_dir", str(tmp_path),
                     "trainer.progress_bar", "False", "trainer.weights", ckpt, *OVERRIDES]) == 0
    import json
    with open(tmp_path / "digits" / "metrics.jsonl") as f:
        evals = [r for r in map(json.loads, f) if r["type"] == "eval"]
    assert evals[-1]["accuracy"] == logged["accuracy"] and evals[-1]["top3_accuracy"] == logged["top3_accuracy"]
