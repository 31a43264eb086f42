"""The segmentation and detection examples end to end: short runs whose metric improves
and whose run directory is complete, then engine-export and engine-test on them, the .py
and .yaml configs equal, and exact resume of the detection example with MosaicTransform on
(doc/examples.md gives the full runs' numbers; tests/e2e/test_examples_full.py, marked
slow, checks their targets). The short runs train in this process, as train.py does (the
scheduler on the command line's arguments): nothing here needs a process of its own but
the killed run. train.py itself is run by tests/e2e/test_digits_e2e.py."""
import json
import os
import signal

import pytest

from conftest import ROOT, run_train
from engine.config.loader import load_cfg
from engine.schedule.scheduler import BaseScheduler
from fault_tolerance_helpers import load, run_child, run_here, tensor_differences

CONFIGS = os.path.join(ROOT, "codes", "configs")

# (config, metric, overrides that make it a ~10 s run)
CONFIG_PAIRS = ["digits_seg", "digits_det", "digits_embed"]

EXAMPLES = {
    "digits_seg": ("mIoU", ["solver.max_iter", "80", "solver.eval_period", "40",
                            "trainer.model.generator.width", "8"]),
    "digits_det": ("mAP_50", ["solver.max_iter", "80", "solver.eval_period", "40",
                              "trainer.model.generator.width", "8"]),
}


def short_argv(name, out, *extra):
    return ["--config-file", os.path.join(CONFIGS, f"{name}.py"), "output_dir", str(out),
            "dataloader.num_workers", "0", "trainer.progress_bar", "False", "trainer.log_period", "20",
            "dataloader.train_data_set.num_scenes", "400", "dataloader.val_data_set.num_scenes", "60",
            "solver.checkpoint_period", "40", "solver.generator.lr_scheduler.params.warmup_iter", "10",
            *extra]


def eval_records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r["type"] == "eval"]


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    """name -> run directory of an 80-step run of the example, trained once per module
    (on first use) and shared by every test that inspects or uses it."""
    done = {}

    def run(name):
        if name not in done:
            out = tmp_path_factory.mktemp(name)
            BaseScheduler().schedule(short_argv(name, out, *EXAMPLES[name][1]))  # SystemExit: a failed run
            done[name] = out / name
        return done[name]

    return run


@pytest.fixture(params=sorted(EXAMPLES))
def short_run(request, example_runs):
    """(name, run directory) of the example's 80-step run."""
    return request.param, example_runs(request.param)


def test_example_trains_and_its_metric_improves(short_run):
    name, run_dir = short_run
    metric = EXAMPLES[name][0]
    evals = eval_records(run_dir)
    assert [r["iter"] for r in evals] == [40, 80]
    first, last = evals[0][metric], evals[-1][metric]
    assert last > first, f"{name}: {metric} went from {first} to {last}"
    for path in ("config.yaml", "log.txt", "metrics.jsonl", "checkpoints/model_final.pth",
                 "checkpoints/model_best.pth", "checkpoints/last_checkpoint"):
        assert (run_dir / path).is_file(), path


def test_example_exports_to_onnx_and_verifies_in_onnxruntime(short_run, tmp_path, capsys):
    from engine.tools import export

    name, run_dir = short_run
    code = export.main(["--config-file", str(run_dir / "config.yaml"), "--weights",
                        str(run_dir / "checkpoints" / "model_final.pth"), "--output", str(tmp_path / "m.onnx"),
                        "--verify", "--import", "codes"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "onnx.checker passed" in out and "@ batch 7" in out


def test_example_test_tool_draws_its_predictions(short_run, tmp_path, capsys):
    from engine.tools import test as test_tool

    name, run_dir = short_run
    metric = EXAMPLES[name][0]
    code = test_tool.main(["--config-file", str(run_dir / "config.yaml"), "--weights",
                           str(run_dir / "checkpoints" / "model_final.pth"), "--show-dir", str(tmp_path / "show"),
                           "--work-dir", str(tmp_path / "work"), "--import", "codes", "dataloader.num_workers", "0"])
    assert code == 0, capsys.readouterr()
    metrics = json.loads((tmp_path / "work" / "metrics.json").read_text())["metrics"]
    assert metrics[metric] == eval_records(run_dir)[-1][metric]  # what training logged, exactly
    assert len(os.listdir(tmp_path / "show")) == 60  # one picture per validation scene


@pytest.mark.parametrize("name", CONFIG_PAIRS)
def test_example_python_and_yaml_configs_are_the_same_run(name):
    import codes  # noqa: F401  (registers the examples' components)

    assert load_cfg(os.path.join(CONFIGS, f"{name}.py")) == load_cfg(os.path.join(CONFIGS, f"{name}.yaml"))


def test_detection_with_mosaic_resumes_bitwise_after_a_kill(tmp_path):
    """Mosaic draws its three partner scenes from the sample's generator: after a SIGKILL
    and --resume, with 2 loader workers, the end state equals the uninterrupted run's."""
    def argv(out):
        return ["--config-file", os.path.join(CONFIGS, "digits_det.py"), "--resume", "output_dir", str(out),
                "dataloader.num_workers", "2", "trainer.progress_bar", "False", "trainer.log_period", "1",
                "dataloader.train_data_set.num_scenes", "64", "dataloader.val_data_set.num_scenes", "16",
                "trainer.model.generator.width", "8", "solver.train_per_batch", "8",
                "solver.max_iter", "12", "solver.checkpoint_period", "4", "solver.eval_period", "6",
                "solver.generator.lr_scheduler.params.warmup_iter", "2", "trainer.name", "FaultTrainer"]

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert run_here(argv(reference)) == 0
    assert run_child(argv(resumed), {"kill_after": 6}, tmp_path / "child.log") == -signal.SIGKILL
    assert (resumed / "digits_det" / "checkpoints" / "last_checkpoint").read_text().strip() == "model_0000004.pth"
    assert run_here(argv(resumed)) == 0
    for name in ("model_final.pth", "model_best.pth"):
        got, want = (load(d / "digits_det" / "checkpoints" / name) for d in (resumed, reference))
        diffs = [d for key in ("model", "rng", "iteration", "data", "trainer")
                 for d in tensor_differences(got[key], want[key], f"{name}.{key}")]
        assert not diffs, f"{name} differs from the uninterrupted run at {diffs[:6]}"


@pytest.mark.slow  # ~15-35 s; tests/e2e/test_pipeline.py trains the embedding network in the default suite
def test_feature_learning_example_trains_its_margin_head_and_retrieves_unseen_digits(tmp_path):
    """The CosFace class weights live in the trained network: optimised (the loss falls),
    checkpointed with it; the embeddings of the digits 7-9, never seen in training, find
    a nearest neighbour of their own digit far above chance (1/3)."""
    result = run_train(["--config-file", os.path.join(CONFIGS, "digits_embed.py"), "output_dir", str(tmp_path),
                        "dataloader.num_workers", "0", "trainer.progress_bar", "False", "trainer.log_period", "10",
                        "solver.max_iter", "80", "solver.eval_period", "80", "solver.checkpoint_period", "80",
                        "solver.generator.lr_scheduler.params.warmup_iter", "10"], timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "digits_embed"
    with open(run_dir / "metrics.jsonl") as f:
        records = list(map(json.loads, f))
    train = [r["margin"] for r in records if r["type"] == "train"]
    assert train[-1] < train[0]
    final = [r for r in records if r["type"] == "eval"][-1]
    assert final["top1_accuracy"] > 0.6 and 0 <= final["tpr_at_fpr_0.01"] <= 1
    state = load(run_dir / "checkpoints" / "model_final.pth")["model"]["g_model"]
    assert state["head.groups.margin.0.loss.weight"].shape == (7, 64)


def test_segmentation_onnx_takes_other_image_sizes(example_runs, tmp_path, capsys):
    """The segmenter's onnx: section makes height and width dynamic: the exported model
    run at 96 x 80 (a size it was not traced at) matches torch on the same input."""
    import numpy as np
    import onnxruntime
    import torch

    from engine.inference.loading import inference_network, load_trained_model
    from engine.tools import export

    run_dir = example_runs("digits_seg")
    config, weights = run_dir / "config.yaml", run_dir / "checkpoints" / "model_final.pth"
    assert export.main(["--config-file", str(config), "--weights", str(weights), "--output", str(tmp_path / "s.onnx"),
                        "--import", "codes"]) == 0
    capsys.readouterr()
    images = np.random.default_rng(0).normal(size=(2, 3, 96, 80)).astype(np.float32)
    (got,) = onnxruntime.InferenceSession(str(tmp_path / "s.onnx")).run(None, {"images": images})
    _, model, _ = load_trained_model(str(config), str(weights))
    with torch.no_grad():
        want = inference_network(model).eval()(torch.from_numpy(images)).numpy()
    assert got.shape == (2, 11, 96, 80)
    assert np.abs(got - want).max() < 1e-4
