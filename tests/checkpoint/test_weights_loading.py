"""trainer.weights: any common weights file, prefixes stripped, one report of what did not load."""
import logging
import re

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import codes  # noqa: F401
from engine.checkpoint.weights import load_weights
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.utils.errors import EngineError

from fault_tolerance_helpers import DIGITS_PY, run_here

DigitsNet = BUILD_NETWORK_REGISTRY.get("DigitsNet")


def source_state():
    """A DigitsNet(num_classes=12) state saved through DataParallel, plus an extra tensor
    and without one BatchNorm statistic: against DigitsNet(num_classes=10), the classifier
    is mis-shaped, 'extra.weight' unexpected and 'features.1.running_var' missing."""
    torch.manual_seed(1)
    state = {f"module.{k}": v for k, v in DigitsNet(num_classes=12).state_dict().items()}
    state["module.extra.weight"] = torch.ones(3)
    del state["module.features.1.running_var"]
    return state


@pytest.fixture
def network():
    torch.manual_seed(2)
    return DigitsNet(num_classes=10)


def check_loaded(network, before, state, report, log_text):
    assert report["missing"] == ["features.1.running_var"]
    assert report["unexpected"] == ["module.extra.weight"]
    assert report["shape_mismatch"] == ["classifier.bias", "classifier.weight"]
    after = network.state_dict()
    for key in after:
        if key in report["loaded"]:
            assert torch.equal(after[key], state[f"module.{key}"]), key       # loaded from the file
        else:
            assert torch.equal(after[key], before[key]), key                  # kept its own value
    assert len(report["loaded"]) == len(after) - 3
    # one table, one row per key that did not load, naming its class and shapes
    table = [r for r in log_text if "not loaded" in r]
    assert len(table) == 1, log_text
    for row in (r"features\.1\.running_var +missing in the file +16\n",
                r"module\.extra\.weight +unexpected \(not in the network\) +3\n",
                r"classifier\.weight +shape mismatch +12x32 +10x32"):
        assert re.search(row, table[0]), table[0]


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model", "engine", "safetensors"])
def test_prefixed_partly_mismatched_weights_load_what_matches(tmp_path, network, caplog, wrap):
    state = source_state()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    path = tmp_path / ("w.safetensors" if wrap == "safetensors" else "w.pth")
    if wrap == "safetensors":
        save_file(state, str(path))
    else:
        payload = {"bare": state, "state_dict": {"state_dict": state, "epoch": 3}, "model": {"model": state},
                   "engine": {"model": {"g_model": state, "g_solver": {}}, "iteration": 7}}[wrap]
        torch.save(payload, path)
    with caplog.at_level(logging.INFO):
        report = load_weights(network, str(path))
    check_loaded(network, before, state, report, [r.getMessage() for r in caplog.records])


def test_configured_prefixes_through_the_trainer(tmp_path, capsys):
    torch.manual_seed(3)
    state = {f"backbone.{k}": v for k, v in DigitsNet(num_classes=10, width=16).state_dict().items()}
    torch.save(state, tmp_path / "w.pth")
    base = ["--config-file", DIGITS_PY, "output_dir", str(tmp_path), "dataloader.num_workers", "0",
            "trainer.progress_bar", "False", "solver.max_iter", "1", "trainer.weights", str(tmp_path / "w.pth"),
            "dataloader.val_data_set.val_fraction", "0.02", "solver.generator.lr_scheduler.params.warmup_iter", "1"]
    assert run_here(base + ["output_log_name", "default"]) == 2  # 'backbone.' is not stripped by default
    err = capsys.readouterr().err
    assert "no tensor of" in err or "do not fit the network" in err, err
    assert run_here(base + ["output_log_name", "custom", "trainer.weights_prefixes", "['backbone.']"]) == 0
    log = (tmp_path / "custom" / "log.txt").read_text()
    assert f"loaded {len(state)} of the network's {len(state)} tensors" in log


@pytest.mark.parametrize("content, message", [
    (b"\x00garbage" * 10, "does not load as a torch file"),
    ("module", "holds Python objects that torch.load(weights_only=True) refuses"),
    ({"epoch": 3, "note": "no tensors"}, "holds no tensors"),
    ("safetensors-garbage", "is not a valid .safetensors file"),
    (None, "file not found"),
])
def test_bad_weights_files_are_one_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / ("w.safetensors" if content == "safetensors-garbage" else "w.pth")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "module":
        torch.save(nn.Linear(2, 2), path)  # a whole pickled module, not a state_dict
    elif content == "safetensors-garbage":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(EngineError) as info:
        load_weights(DigitsNet(), str(path))
    assert message in str(info.value) and str(path) in str(info.value)
    code = run_here(["--config-file", DIGITS_PY, "output_dir", str(tmp_path / "run"), "solver.max_iter", "1",
                     "dataloader.num_workers", "0", "trainer.weights", str(path),
                     "solver.generator.lr_scheduler.params.warmup_iter", "1"])
    assert code == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and "trainer.weights" in errors[0] and message in errors[0]
    assert not (tmp_path / "run" / "digits" / "checkpoints").exists()
