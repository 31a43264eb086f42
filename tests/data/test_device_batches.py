"""The device-side input pipeline and channels_last: uint8 batches normalised where they
arrive equal the default path's batches and training bit for bit on the CPU; errors while
fetching ahead surface at their own step; the CUDA path (side stream) is checked on a GPU."""
import json
import os

import numpy as np
import pytest
import torch

from engine.config.loader import load_cfg
from engine.data.build import BUILD_DATASET_REGISTRY, build_dataset, build_train_loader
from engine.data.dataset import EngineDataSet
from engine.data.device_batches import DevicePrefetcher, DeviceStage, Uint8Collate
from engine.model.speed import prepare_networks
from engine.utils.errors import ConfigError

from fault_tolerance_helpers import DIGITS_PY, load, run_here, tensor_differences

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
NORMALIZE = [dict(name="Normalize", mean=MEAN, std=STD), dict(name="ToTensor")]
FLIP = [dict(name="RandomFlip", p=0.5)]


@BUILD_DATASET_REGISTRY.register()
class Uint8Squares(EngineDataSet):
    """Random 12x12 RGB uint8 images, labels 0-9 (a pure function of the index)."""

    def __init__(self, split: str = "train", transformer=None, size: int = 48, **unused):
        super().__init__(transformer)
        rng = np.random.default_rng(0 if split == "train" else 1)
        self.images = rng.integers(0, 256, (size, 12, 12, 3), dtype=np.uint8)
        self.labels = rng.integers(0, 10, size)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        results = self.data_pipeline({"img": self.images[index], "img_fields": ["img"], "color_fields": ["img"]})
        return {"input_data": results["img"], "target_data": int(self.labels[index])}


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """{'default': config file, 'device': the same run normalising on the device}."""
    folder = tmp_path_factory.mktemp("configs")
    paths = {}
    for name, tail in (("default", NORMALIZE), ("device", [])):
        path = folder / f"{name}.py"
        path.write_text(
            f"_base_ = {DIGITS_PY!r}\n"
            f"dataloader = dict(num_workers=0, train_data_set=dict(name='Uint8Squares', transformer={FLIP + tail!r}),"
            f" val_data_set=dict(name='Uint8Squares', split='val', transformer={tail!r}))\n"
            "trainer = dict(progress_bar=False, log_period=1,"
            " model=dict(generator=dict(name='DigitsNet', in_channels=3, width=4)))\n"
            "solver = dict(max_iter=6, checkpoint_period=6, eval_period=0, test_per_batch=16, train_per_batch=8,"
            " generator=dict(lr_scheduler=dict(params=dict(warmup_iter=2))))\n")
        paths[name] = str(path)
    return paths


DEVICE = ["dataloader.device_normalize.mean", str(MEAN), "dataloader.device_normalize.std", str(STD)]


def batches(config, *overrides, n=3):
    cfg = load_cfg(config, ["trainer.device", "cpu", *overrides])
    loader, _ = build_train_loader(build_dataset(cfg.DATALOADER.TRAIN_DATA_SET, "train"), cfg, start_iter=0,
                                   device=torch.device("cpu"))
    stream = iter(loader)
    return [next(stream) for _ in range(n)]


def test_device_normalized_batches_equal_the_default_batches_bitwise(configs):
    default = batches(configs["default"])
    for workers in ("0", "1"):  # the uint8 collate in the main process and in a worker
        device = batches(configs["device"], *DEVICE, "dataloader.num_workers", workers)
        for a, b in zip(default, device):
            assert b["input_data"].dtype == torch.float32 and b["input_data"].is_contiguous()
            assert torch.equal(a["input_data"], b["input_data"]) and torch.equal(a["target_data"], b["target_data"])


def train(out, config, *overrides):
    assert run_here(["--config-file", config, "output_dir", str(out), "trainer.device", "cpu", *overrides]) == 0
    run_dir = os.path.join(str(out), "digits")
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return load(os.path.join(run_dir, "checkpoints", "model_final.pth"))["model"], records


def test_training_through_the_prefetcher_equals_the_default_path_bitwise(configs, tmp_path):
    default, default_records = train(tmp_path / "default", configs["default"])
    device, device_records = train(tmp_path / "device", configs["device"], *DEVICE)
    assert not tensor_differences(default, device)
    assert [r.get("cls", r.get("accuracy")) for r in default_records] == \
           [r.get("cls", r.get("accuracy")) for r in device_records]


def test_channels_last_batches_hold_the_same_values_and_train_the_same_curve(configs, tmp_path):
    for a, b in zip(batches(configs["default"]), batches(configs["default"], "trainer.channels_last", "True")):
        assert b["input_data"].is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(a["input_data"], b["input_data"])
    # oneDNN's NHWC convolutions sum in another order than its NCHW ones: the networks'
    # outputs differ in the last bits (measured: 1 ulp from the fourth step), so the
    # curves are equal to float32 rounding, not bitwise; the inputs and weights are.
    _, default = train(tmp_path / "default", configs["default"])
    state, channels_last = train(tmp_path / "cl", configs["device"], *DEVICE, "trainer.channels_last", "True")
    losses = [(a["cls"], b["cls"]) for a, b in zip(default, channels_last) if a["type"] == "train"]
    assert len(losses) == 6 and max(abs(a - b) for a, b in losses) < 1e-5
    assert state["g_model"]["features.0.weight"].is_contiguous(memory_format=torch.channels_last)


def test_prepare_networks_converts_the_registered_networks_in_place():
    cfg = load_cfg(DIGITS_PY, ["trainer.device", "cpu", "trainer.channels_last", "True"])

    class Bundle:
        device = torch.device("cpu")
        net = torch.nn.Conv2d(3, 4, 3)

        def named_networks(self):
            return {"g_model": self.net}

    bundle = Bundle()
    weight = bundle.net.weight
    prepare_networks(bundle, cfg)
    assert bundle.net.weight is weight and weight.is_contiguous(memory_format=torch.channels_last)


def test_an_error_while_fetching_ahead_is_raised_at_its_own_step():
    def loader():
        yield {"x": torch.zeros(1)}
        yield {"x": torch.ones(1)}
        raise ValueError("sample 7 is unreadable")

    batches = DevicePrefetcher(loader(), DeviceStage("cpu", channels_last=True))
    assert float(next(batches)["x"]) == 0.0  # the second batch is fetched now, the error after it
    assert float(next(batches)["x"]) == 1.0
    with pytest.raises(ValueError, match="sample 7"):
        next(batches)


def test_the_workers_must_leave_normalised_fields_uint8():
    collate = Uint8Collate(["input_data"], lambda samples: samples)
    assert collate([{"input_data": np.zeros((4, 5, 3), np.uint8)}])[0]["input_data"].shape == (3, 4, 5)
    with pytest.raises(ConfigError, match="'input_data' is float32 .*without Normalize and ToTensor"):
        collate([{"input_data": np.zeros((4, 5, 3), np.float32)}])
    with pytest.raises(ConfigError, match="same number of values"):
        DeviceStage("cpu", mean=[1.0, 2.0], std=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="std must not be 0"):
        DeviceStage("cpu", mean=[0.0], std=[0.0])


def test_cudnn_autotuning_only_when_not_deterministic(monkeypatch):
    class Bundle:
        device = torch.device("cuda")

        def named_networks(self):
            return {}

    cfg = load_cfg(DIGITS_PY)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    prepare_networks(Bundle(), cfg)
    assert torch.backends.cudnn.benchmark is False
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: False)
    prepare_networks(Bundle(), cfg)
    assert torch.backends.cudnn.benchmark is True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_side_stream_batches_equal_the_cpu_path(configs):
    cpu = batches(configs["device"], *DEVICE, "trainer.channels_last", "True")
    cfg = load_cfg(configs["device"], [*DEVICE, "trainer.channels_last", "True", "trainer.device", "cuda"])
    loader, _ = build_train_loader(build_dataset(cfg.DATALOADER.TRAIN_DATA_SET, "train"), cfg, start_iter=0,
                                   device=torch.device("cuda"))
    assert loader.pin_memory
    stream = iter(loader)
    assert stream._stream is not None
    for a in cpu:
        b = next(stream)
        assert b["input_data"].is_cuda and b["input_data"].is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(a["input_data"], b["input_data"].cpu())
        assert torch.equal(a["target_data"], b["target_data"].cpu())


def test_the_built_in_datasets_leave_uint8_images_to_the_device(tmp_path):
    # ImageFolderDataset makes its tensor itself: told by the loader, it leaves it uint8,
    # and the device's x / 255 equals its own ToTensor scaling bit for bit
    import cv2

    for k in range(6):
        os.makedirs(tmp_path / f"c{k % 2}", exist_ok=True)
        image = np.random.default_rng(k).integers(0, 256, (10, 12, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"c{k % 2}" / f"{k}.png"), image)
    config = tmp_path / "folder.py"
    config.write_text(f"_base_ = {DIGITS_PY!r}\n"
                      f"dataloader = dict(num_workers=0, train_data_set=dict(_delete_=True, name='ImageFolderDataset',"
                      f" root={str(tmp_path)!r}, transformer={FLIP!r}))\n"
                      "solver = dict(train_per_batch=3)\n")
    default = batches(str(config), n=2)
    device = batches(str(config), "dataloader.device_normalize.mean", "[0.0]",
                     "dataloader.device_normalize.std", "[255.0]", n=2)
    for a, b in zip(default, device):
        assert a["input_data"].dtype == b["input_data"].dtype == torch.float32
        assert torch.equal(a["input_data"], b["input_data"]) and torch.equal(a["target_data"], b["target_data"])
