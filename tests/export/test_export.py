"""engine-export: onnx.checker, onnxruntime equals torch at batch 1 and 7 and on an image,
the onnx: section, and each bad input with its message and exit status."""
import re

import cv2
import numpy as np
import onnx
import pytest
import torch
from torch import nn

from engine.export import EXPORT_WRAPPER_REGISTRY
from engine.tools import export as export_tool

from fault_tolerance_helpers import DIGITS_PY
from trained_digits import OVERRIDES, digits_run, nan_checkpoint  # noqa: F401  (fixture)

# '--' ends --input-shape's numbers: what follows are KEY VALUE overrides
OPTS = ["--", *OVERRIDES]


@EXPORT_WRAPPER_REGISTRY.register()
class NoisyLogits(nn.Module):
    """A wrapper that is not a function of its input: verification must catch it."""

    def __init__(self, model):
        super().__init__()
        self.network = model.g_model

    def forward(self, img):
        return self.network(img) + torch.rand(1)


@EXPORT_WRAPPER_REGISTRY.register()
class ProbsWrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.network = model.g_model

    def forward(self, img):
        return self.network(img).softmax(1), self.network(img).argmax(1)


def export(ckpt, out, *extra):
    return export_tool.main(["--config-file", DIGITS_PY, "--weights", ckpt, "--output", str(out), *extra])


@pytest.fixture
def png(tmp_path, digits_run):  # noqa: F811
    path = str(tmp_path / "digit.png")
    cv2.imwrite(path, (np.arange(64, dtype=np.uint8) * 4).reshape(8, 8))
    return path


def test_verify_passes_at_batch_1_and_7_and_on_an_image(digits_run, tmp_path, png, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    out = tmp_path / "digits.onnx"
    assert export(ckpt, out, "--input-shape", "1", "1", "16", "16", "--verify", "--input-img", png, *OPTS) == 0
    printed = capsys.readouterr().out
    assert "the EMA weights (g_ema)" in printed and "onnx.checker passed" in printed
    diffs = dict(re.findall(r"verify: output @ (batch 1|batch 7|--input-img) .*max abs diff (\S+)", printed))
    assert set(diffs) == {"batch 1", "batch 7", "--input-img"}
    assert all(float(d) < 1e-4 for d in diffs.values()), diffs
    onnx.checker.check_model(onnx.load(str(out)))


def test_the_onnx_section_names_wrapper_inputs_outputs_axes_and_options(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    out = tmp_path / "probs.onnx"
    section = ["onnx.name", "ProbsWrapper", "onnx.input_shape", "{'img': {'shape': [2, 1, 16, 16], 'dtype': 'float32'}}",
               "onnx.input_names", "['img']", "onnx.output_names", "['probs', 'label']",
               "onnx.dynamic_axes", "{'img': {'0': 'n'}, 'probs': {'0': 'n'}, 'label': {'0': 'n'}}",
               "onnx.options", "{'opset_version': 16, 'do_constant_folding': True}"]
    assert export(ckpt, out, "--verify", *OPTS, *section) == 0
    printed = capsys.readouterr().out
    assert "probs @ batch 2" in printed and "label @ batch 7" in printed
    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input] == ["img"] and [o.name for o in model.graph.output] == ["probs", "label"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "n"
    assert model.opset_import[0].version == 16


@pytest.mark.parametrize("extra, message", [
    (["onnx.name", "NoSuchWrapper"], "onnx.name"),
    (["onnx.input_shapes", "{}"], "input_shapes"),
    (["onnx.options", "{'opset': 16}"], "onnx.options: ['opset'] not torch.onnx.export options"),
    (["onnx.dynamic_axes", "{'logits': {'0': 'n'}}"], "onnx.dynamic_axes: 'logits' is neither"),
])
def test_bad_onnx_section_is_one_error_line(digits_run, tmp_path, capsys, extra, message):  # noqa: F811
    _, ckpt, _ = digits_run
    assert export(ckpt, tmp_path / "m.onnx", "--input-shape", "1", "1", "16", "16", *OPTS, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err, err


def test_unregistered_wrapper_lists_the_registered_ones(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    assert export(ckpt, tmp_path / "m.onnx", "--input-shape", "1", "1", "16", "16", *OPTS,
                  "onnx.name", "NoSuchWrapper") == 2
    assert "GeneratorWrapper" in capsys.readouterr().err


def test_verify_failure_names_the_output_and_how_far(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    assert export(ckpt, tmp_path / "m.onnx", "--input-shape", "1", "1", "16", "16", "--verify", *OPTS,
                  "onnx.name", "NoisyLogits") == 2
    err = capsys.readouterr().err
    found = re.search(r"error: --verify: onnxruntime differs from torch above the tolerance 0.0001: "
                      r"output @ batch 1: (\S+?);", err)
    assert found and float(found.group(1)) > 1e-4, err


def test_unreadable_input_img_and_missing_shape(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    assert export(ckpt, tmp_path / "m.onnx", "--input-shape", "1", "1", "16", "16", "--verify",
                  "--input-img", str(bad), *OPTS) == 2
    assert f"cannot read the image '{bad}'" in capsys.readouterr().err
    assert export(ckpt, tmp_path / "m.onnx", *OPTS) == 2
    assert "give --input-shape N C H W or onnx.input_shape" in capsys.readouterr().err


# ------------------------------------------------------------------ issue 25: nothing written on failure
def only_error_line(capsys):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_a_failed_verify_or_checker_leaves_a_good_file_in_place(digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    good = tmp_path / "good.onnx"
    shape = ["--input-shape", "1", "1", "16", "16"]
    assert export(ckpt, good, *shape, *OPTS) == 0
    before = good.read_bytes()
    capsys.readouterr()
    assert export(nan_checkpoint(ckpt, tmp_path / "nan.pth"), good, *shape, "--verify", *OPTS) == 2
    assert "above the tolerance" in only_error_line(capsys)
    assert export(ckpt, good, *shape, *OPTS, "onnx.options", "{'opset_version': 5}") == 2
    assert "onnx.checker refuses the exported model" in only_error_line(capsys)
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["good.onnx", "nan.pth"]
    assert export(ckpt, tmp_path / "new.onnx", *shape, *OPTS, "onnx.options", "{'opset_version': 5}") == 2
    assert not (tmp_path / "new.onnx").exists()


@pytest.mark.parametrize("shape", [["1", "3", "16", "16"], ["1", "1", "1", "1"], ["1", "16", "16"]])
def test_an_input_shape_the_network_cannot_take_is_one_line_and_writes_nothing(
        digits_run, tmp_path, capsys, shape):  # noqa: F811
    _, ckpt, _ = digits_run
    assert export(ckpt, tmp_path / "m.onnx", "--input-shape", *shape, "--verify", *OPTS) == 2
    line = only_error_line(capsys)
    assert f"the input shape (input {' '.join(shape)}; --input-shape or onnx.input_shape)" in line
    assert "the network cannot take an input of shape" in line and "takes N x 1 x H x W" in line
    assert not list(tmp_path.iterdir())


def test_a_colour_input_img_for_a_grey_network_is_one_line_and_writes_nothing(
        digits_run, tmp_path, capsys):  # noqa: F811
    _, ckpt, _ = digits_run
    colour = str(tmp_path / "colour.png")
    cv2.imwrite(colour, np.full((16, 16, 3), 90, np.uint8))
    assert export(ckpt, tmp_path / "m.onnx", "--input-shape", "1", "1", "16", "16", "--verify",
                  "--input-img", colour, *OPTS) == 2
    line = only_error_line(capsys)
    assert f"--input-img {colour}: the network cannot take an input of shape [1, 3, 16, 16]" in line
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("tolerance", ["nan", "-1", "inf"])
def test_tolerance_must_be_a_finite_number_at_least_0(tmp_path, capsys, tolerance):
    assert export(str(tmp_path / "missing.pth"), tmp_path / "m.onnx", "--verify", "--tolerance", tolerance) == 2
    assert f"--tolerance {float(tolerance)}: expected a finite number >= 0" in only_error_line(capsys)
