"""Mixed precision (solver.amp): bf16 autocast on CPU/CUDA, fp16 with a GradScaler on
CUDA; overflowing steps skipped and counted; clipping after unscaling."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import codes  # noqa: F401  (registers the digits example)
from engine.config.loader import load_cfg
from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY, BUILD_NETWORK_REGISTRY, build_model
from engine.schedule.scheduler import BaseScheduler
from engine.solver.amp import Amp, build_amp
from engine.solver.solver import Solver
from engine.utils.errors import ConfigError
from yacs.config import CfgNode as CN

from conftest import DIGITS_PY

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


@BUILD_NETWORK_REGISTRY.register()
class AmpTestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 16), nn.Linear(16, 1)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


@BUILD_MODEL_REGISTRY.register()
class AmpTestModel(BaseModel):
    seen = []  # (autocast enabled, autocast dtype, output dtype) per run_step

    def run_step(self, data, *, epoch=None, **kwargs):
        x, y = data["x"].to(self.device), data["y"].to(self.device)
        out = self.g_model(x)
        kind = self.device.type
        self.seen.append((torch.is_autocast_enabled(kind), torch.get_autocast_dtype(kind), out.dtype))
        return F.mse_loss(out.float(), y)

    def generator(self, data):
        return self.g_model(data.to(self.device))


@BUILD_MODEL_REGISTRY.register()
class AmpTestCpuFp16Model(AmpTestModel):
    """float16 on a CPU device (refused by the config) to test the scaler without a GPU."""

    def build_amp(self, cfg):
        return Amp(True, torch.float16, "cpu", init_scale=2.0 ** 18)


def cfg_for(tmp_path, *overrides, name="AmpTestModel"):
    path = tmp_path / "amp_cfg.py"
    path.write_text(f"trainer = dict(device='cpu', model=dict(name='{name}', generator=dict(name='AmpTestNet')))\n"
                    "solver = dict(max_iter=50, generator=dict(optimizer=dict(type='SGD', params=dict(lr=0.01)),"
                    " lr_scheduler=dict(enabled=True, type='LRMultiplierScheduler',"
                    " params=dict(lr_scheduler_param=dict(name='WarmupCosineLR')))))\n")
    torch.manual_seed(0)  # the same initial weights whatever ran before
    return load_cfg(str(path), list(overrides))


def batch(n=8, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, 4, generator=g), "y": scale * torch.randn(n, 1, generator=g)}


# ------------------------------------------------------------------------ bf16 (CPU)
@pytest.mark.slow  # a run to the target metric (~1 min); bf16 forward/eval paths are tested below
def test_bf16_on_cpu_trains_digits_to_the_accuracy_target(tmp_path):
    """A cheaper stand-in for the 600-iteration example run: 200 iterations without EMA.
    Measured on 2 CPU cores with these exact settings: fp32 0.994, bf16 0.992 validation
    accuracy (the full example: >= 0.97, tests/e2e/test_digits_e2e.py)."""
    trainer = BaseScheduler().schedule([
        "--config-file", DIGITS_PY, "output_dir", str(tmp_path), "dataloader.num_workers", "0",
        "trainer.progress_bar", "False", "solver.max_iter", "200", "solver.eval_period", "0",
        "solver.checkpoint_period", "1000", "trainer.log_period", "100", "trainer.model.ema.enable", "False",
        "solver.amp.enabled", "True", "solver.amp.dtype", "bfloat16"])
    model = trainer.model
    assert model.amp.enabled and model.amp.dtype is torch.bfloat16 and model.scaler is None
    assert trainer.latest_eval["accuracy"] >= 0.97, trainer.latest_eval


def test_training_forward_runs_under_bf16_autocast_parameters_stay_fp32(tmp_path):
    model = build_model(cfg_for(tmp_path, "solver.amp.enabled", "True"))
    AmpTestModel.seen.clear()
    model.train_iteration([batch(), batch(seed=1)])
    assert AmpTestModel.seen == [(True, torch.bfloat16, torch.bfloat16)] * 2
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.g_model.parameters())
    assert "scaler" not in model.state_dict() and model.log_values() == {}


def test_evaluation_runs_under_the_same_autocast_unless_amp_eval_is_false(tmp_path):
    model = build_model(cfg_for(tmp_path, "solver.amp.enabled", "True"))
    with model.inference_weights():
        assert torch.is_autocast_enabled("cpu") and model.generator(batch()["x"]).dtype == torch.bfloat16
    with model.inference_weights(autocast=False):  # export: full precision
        assert not torch.is_autocast_enabled("cpu")
    off = build_model(cfg_for(tmp_path, "solver.amp.enabled", "True", "solver.amp.eval", "False"))
    with off.inference_weights():
        assert not torch.is_autocast_enabled("cpu")


def test_amp_off_means_no_autocast(tmp_path):
    model = build_model(cfg_for(tmp_path))
    AmpTestModel.seen.clear()
    model.train_iteration([batch()])
    assert AmpTestModel.seen == [(False, torch.get_autocast_dtype("cpu"), torch.float32)]


# --------------------------------------------------------- fp16 + GradScaler (on CPU)
@pytest.mark.parametrize("optimizer", [
    [],  # SGD, for-loop: the scaler does not call step() on an overflow
    # fused: step() is always called and the kernel skips; the verdict must not come from the call
    ["solver.generator.optimizer.type", "Adam", "solver.generator.optimizer.params.fused", "True"],
], ids=["sgd", "fused_adam"])
def test_fp16_overflow_skips_the_step_counts_it_and_backs_off_the_scale(tmp_path, optimizer):
    model = build_model(cfg_for(tmp_path, *optimizer, name="AmpTestCpuFp16Model"))
    assert bool(getattr(model.g_solver.optimizer, "_step_supports_amp_scaling", False)) == bool(optimizer)
    AmpTestModel.seen.clear()
    assert model.scaler is not None and "scaler" in model.state_dict()
    flags, changed = [], []
    for i in range(12):
        before = model.g_model.fc1.weight.detach().clone()
        losses = model.train_iteration([batch(scale=10.0)])  # the same batch: gradients shrink
        assert math.isfinite(float(losses["loss"]))  # the loss is fine; fp16 gradients overflow
        flags.append(model.last_step_skipped)
        changed.append(not torch.equal(before, model.g_model.fc1.weight))
    assert AmpTestModel.seen[0][1:] == (torch.float16, torch.float16)
    k = model.skipped_steps
    assert 1 <= k < 12 and flags == [True] * k + [False] * (12 - k)
    assert changed == [False] * k + [True] * (12 - k)  # a skipped step leaves the weights
    assert model.scaler.get_scale() == 2.0 ** 18 * 0.5 ** k  # halved at each overflow
    assert model.g_solver.lr_scheduler.last_epoch == 12  # the schedule follows the iterations
    assert model.log_values() == {"amp_scale": 2.0 ** 18 * 0.5 ** k, "skipped_steps": float(k)}

    state = model.state_dict()
    assert state["g_solver"]["skipped_steps"] == k and state["scaler"]["scale"] == model.scaler.get_scale()
    again = build_model(cfg_for(tmp_path, name="AmpTestCpuFp16Model"))
    again.load_state_dict(state)
    assert again.scaler.get_scale() == model.scaler.get_scale() and again.skipped_steps == k


def test_fp16_overflow_is_not_the_nonfinite_guards_business_but_a_nan_loss_is(tmp_path):
    model = build_model(cfg_for(tmp_path, name="AmpTestCpuFp16Model"))
    asked = []

    def guard(losses):
        asked.append({k: float(v) for k, v in losses.items()})
        return True

    model.train_iteration([batch(scale=10.0)], before_step=guard)  # overflow at scale 2**18
    assert model.last_step_skipped and asked == []
    bad = batch()
    bad["y"][0] = float("nan")
    model.train_iteration([bad], before_step=lambda losses: asked.append(1) or False)
    assert asked == [1]


def test_clipping_sees_unscaled_gradients():
    torch.manual_seed(0)
    nets = [nn.Linear(4, 3), nn.Linear(4, 3)]
    nets[1].load_state_dict(nets[0].state_dict())
    node = CN({"OPTIMIZER": {"TYPE": "SGD", "PARAMS": {"LR": 0.1},
                             "CLIP_GRADIENTS": {"ENABLED": True, "CLIP_VALUE": 0.5}},
               "LR_SCHEDULER": {"ENABLED": False}})
    plain = Solver(nets[0], node, 10)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaled = Solver(nets[1], node, 10, scaler=scaler)
    x = torch.randn(8, 4)
    nets[0](x).pow(2).sum().backward()
    scaler.scale(nets[1](x).pow(2).sum()).backward()
    norms = plain.step(), scaled.step()
    scaler.update()
    assert float(norms[0]) > 0.5 and float(norms[1]) == pytest.approx(float(norms[0]), rel=1e-5)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert not scaled.last_skipped and scaler.get_scale() == 1024.0


def test_bf16_on_a_gpu_that_only_emulates_it_is_one_clear_error(monkeypatch):
    # is_bf16_supported() counts emulation (True on a V100/T4): the check must not
    asked = []

    def supported(including_emulation=True):
        asked.append(including_emulation)
        return including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    with pytest.raises(ConfigError, match=r"solver\.amp\.dtype='bfloat16': this GPU \(cuda\) has no native bfloat16"):
        build_amp({"enabled": True, "dtype": "bfloat16"}, torch.device("cuda"))
    assert asked == [False]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert build_amp({"enabled": True, "dtype": "bfloat16"}, torch.device("cuda")).dtype == torch.bfloat16


# --------------------------------------------------------------------- bad config
@pytest.mark.parametrize("overrides, pattern", [
    (["solver.amp.dtype", "float16"], r"solver\.amp\.dtype='float16' needs a CUDA device, but trainer\.device is cpu.*bfloat16"),
    (["solver.amp.dtype", "fp8"], r"solver\.amp\.dtype must be one of \['bfloat16', 'float16'\], got 'fp8'"),
])
def test_bad_amp_config_is_one_clear_error(tmp_path, overrides, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_model(cfg_for(tmp_path, "solver.amp.enabled", "True", *overrides))


# ------------------------------------------------------------------------- CUDA
@needs_cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cuda_autocast_scaler_state_and_round_trip(tmp_path, dtype):
    cfg = cfg_for(tmp_path, "trainer.device", "cuda", "solver.amp.enabled", "True", "solver.amp.dtype", dtype,
                  "solver.generator.optimizer.clip_gradients.enabled", "True")
    model = build_model(cfg)
    AmpTestModel.seen.clear()
    for i in range(20):
        model.train_iteration([batch(seed=i), batch(seed=i + 100)])
    assert AmpTestModel.seen[0] == (True, getattr(torch, dtype), getattr(torch, dtype))
    state = model.state_dict()
    assert ("scaler" in state) == (dtype == "float16") and (model.scaler is not None) == (dtype == "float16")
    if dtype == "float16":
        assert math.isfinite(state["scaler"]["scale"]) and model.skipped_steps < 20
        assert set(model.log_values()) == {"amp_scale", "skipped_steps"}
    again = build_model(cfg)
    again.load_state_dict(state)
    again.train_iteration([batch(seed=99)])
    model.train_iteration([batch(seed=99)])
    assert all(torch.equal(a, b) for a, b in zip(model.g_model.parameters(), again.g_model.parameters()))


@needs_cuda
def test_cuda_fp16_trains_digits_and_logs_the_scale(tmp_path):
    trainer = BaseScheduler().schedule([
        "--config-file", DIGITS_PY, "output_dir", str(tmp_path), "dataloader.num_workers", "0",
        "trainer.device", "cuda", "trainer.progress_bar", "False", "solver.max_iter", "200",
        "solver.eval_period", "0", "solver.checkpoint_period", "100", "trainer.log_period", "50",
        "trainer.model.ema.enable", "False", "solver.amp.enabled", "True", "solver.amp.dtype", "float16"])
    assert trainer.latest_eval["accuracy"] >= 0.97, trainer.latest_eval
    log = (tmp_path / "digits" / "log.txt").read_text()
    assert "amp_scale:" in log and "skipped_steps:" in log
    payload = torch.load(tmp_path / "digits" / "checkpoints" / "model_final.pth", weights_only=True)
    assert "scaler" in payload["model"]
