"""Predictor: PNG files give the classes engine-test --out wrote; from_run; bad input."""
import json

import cv2
import numpy as np
import pytest
import torch

from codes.digits.dataset import load_digits_split
from engine.inference import Predictor
from engine.tools import test as test_tool
from engine.utils.errors import EngineError

from fault_tolerance_helpers import DIGITS_PY
from trained_digits import OVERRIDES, digits_run  # noqa: F401  (fixture)


def test_classes_on_png_files_equal_the_test_tools_out(digits_run, tmp_path):  # noqa: F811
    run_dir, ckpt, _ = digits_run
    out = tmp_path / "preds.jsonl"
    assert test_tool.main(["--config-file", DIGITS_PY, "--weights", ckpt, "--work-dir", str(tmp_path),
                           "--out", str(out), *OVERRIDES]) == 0
    labels = [json.loads(line)["label"] for line in open(out)]
    images, _ = load_digits_split("val", 0.05)
    paths = []
    for i, img in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], img)
    predictor = Predictor.from_config(DIGITS_PY, ckpt, device="cpu", batch_size=32)
    assert "the EMA weights (g_ema)" in predictor.weights_used
    logits = predictor(paths)
    assert logits.shape == (len(paths), 10)
    assert logits.argmax(1).tolist() == labels
    from_run = Predictor.from_run(run_dir)  # its config.yaml and last checkpoint
    assert torch.equal(from_run(list(images[:3])), logits[:3])


def test_raw_weights_with_no_ema_and_missing_postprocess(digits_run):  # noqa: F811
    run_dir, ckpt, _ = digits_run
    raw = Predictor.from_run(run_dir, "model_final.pth", no_ema=True)
    assert raw.weights_used.startswith("the raw weights (g_model)") and "EMA off" in raw.weights_used
    with pytest.raises(EngineError, match="has no postprocess"):
        raw.postprocess([np.zeros((8, 8), np.uint8)])


def test_bad_images_and_run_folders(digits_run, tmp_path):  # noqa: F811
    run_dir, _, _ = digits_run
    predictor = Predictor.from_run(run_dir)
    with pytest.raises(EngineError, match="cannot read the image"):
        predictor([str(tmp_path / "missing.png")])
    with pytest.raises(EngineError, match="expected uint8"):
        predictor([np.zeros((8, 8), np.float32)])
    with pytest.raises(EngineError, match="no config.yaml"):
        Predictor.from_run(str(tmp_path))
    with pytest.raises(EngineError, match="checkpoint 'nope.pth' not found"):
        Predictor.from_run(run_dir, "nope.pth")


def test_postprocess_hook_decodes_segmentation_masks(tmp_path):
    """The segmentation example defines model.postprocess (logits -> class maps)."""
    import os

    from engine.config.loader import load_cfg
    from engine.model.build import build_model

    from fault_tolerance_helpers import ROOT

    cfg = load_cfg(os.path.join(ROOT, "codes", "configs", "digits_seg.py"), ["trainer.device", "cpu"])
    model = build_model(cfg)
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "scene.png"), rgb[:, :, ::-1])  # OpenCV writes BGR
    predictor = Predictor(cfg, model.eval(), batch_size=1)
    masks = predictor.postprocess([rgb, str(tmp_path / "scene.png")])
    assert masks.shape == (2, 32, 32) and masks.dtype == torch.int64
    assert torch.equal(masks[0], masks[1])  # the path is read as RGB, like the array
    assert torch.equal(masks, predictor([rgb, rgb]).argmax(1))


@pytest.mark.parametrize("image, message", [
    (np.zeros((16, 16, 3), np.uint8), r"the network cannot take an input of shape \[1, 3, 16, 16\] .*"
                                      r"takes N x 1 x H x W \(1 channel\(s\)\); give images like the training set's"),
    (np.zeros((16, 16, 4), np.uint8), r"expected uint8 .* got uint8 \(16, 16, 4\) \(RGBA: drop the alpha channel"),
    (np.zeros((0, 0), np.uint8), r"an empty image \(0 x 0 pixels\)"),
    (np.zeros((5, 0, 3), np.uint8), r"an empty image \(5 x 0 pixels\)"),
])
def test_images_the_network_cannot_take_are_one_engine_error(digits_run, image, message):  # noqa: F811
    predictor = Predictor.from_run(digits_run[0])
    with pytest.raises(EngineError, match="Predictor: " + message):
        predictor([image])


@pytest.mark.parametrize("batch_size", [-1, 0, 2.5, True])
def test_batch_size_must_be_a_whole_number_at_least_1(digits_run, batch_size):  # noqa: F811
    with pytest.raises(EngineError, match=r"Predictor: batch_size must be a whole number >= 1"):
        Predictor.from_run(digits_run[0], batch_size=batch_size)


def test_a_grey_image_with_a_channel_axis_is_a_grey_image(digits_run):  # noqa: F811
    predictor = Predictor.from_run(digits_run[0], batch_size=2)
    grey = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    assert torch.equal(predictor([grey[:, :, None]] * 3), predictor([grey] * 3))
