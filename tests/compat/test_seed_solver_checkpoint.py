"""The seed's solver and checkpoint modules (engine.slover, engine.checkpoint.*), on ours:
LR values against closed forms written from the seed's definitions, clipping that
clips, the checkpoint manager's period / keep-N / resume on our atomic, checksummed files."""
import importlib
import math
import os
from bisect import bisect_right

import pytest
import torch
from torch import nn

from engine.checkpoint.integrity import CorruptCheckpointError, verify_checkpoint
from engine.solver import lr_scheduler as core_lr

SEED_NAMES = {
    "engine.slover": ["build_optimizer_with_gradient_clipping", "LRMultiplierScheduler", "EmptyLRScheduler",
                      "WarmupCosineLR", "WarmupMultiStepLR", "WarmupPolynomialDecay"],
    "engine.slover.optimizer": ["GradientClipType", "build_optimizer_with_gradient_clipping"],
    "engine.slover.lr_scheduler": ["LRMultiplierScheduler", "EmptyLRScheduler", "WarmupParamScheduler",
                                   "WarmupCosineLR", "WarmupMultiStepLR", "WarmupPolynomialDecay"],
    "engine.checkpoint.functional": ["get_model_state_dict", "load_model_state_dict",
                                     "load_checkpoint_state_dict"],
    "engine.checkpoint.checkpoint_manager": ["CheckPointerManager"],
    "engine.checkpoint.checkpoint_state_dict": ["CheckPointStateDict"],
    "engine.model.import_optimizer": ["import_optimizer"],
    "engine.model.import_scheduler": ["import_scheduler"],
    "engine.model.init_model": ["select_weights_init"],
    "engine.model.ema": ["EMA"],
}


@pytest.mark.parametrize("module", sorted(SEED_NAMES))
def test_seed_module_and_names_import(module):
    mod = importlib.import_module(module)
    assert all(hasattr(mod, n) for n in SEED_NAMES[module]), module
    assert importlib.import_module("engine.slover.optimizer") is importlib.import_module(
        "engine.compat.seed.slover.optimizer")


def lrs(make, steps, base=0.1):
    """The LR of iterations 0..steps-1 (torch's convention: step() after each iteration)."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out, sched, opt


def seed_warmup(i, warmup_iter, factor, method="linear"):
    if i >= warmup_iter:
        return 1.0
    return factor if method == "constant" else factor * (1 - i / warmup_iter) + i / warmup_iter


def test_lr_multiplier_multistep_against_closed_form():
    from engine.slover import LRMultiplierScheduler
    param = {"name": "WarmupMultiStepLR", "steps": [6, 9], "gamma": 0.5}
    got, sched, _ = lrs(lambda o: LRMultiplierScheduler(o, 0.01, 4, param, 12), 15)
    # warmup ramps linearly from 0.01 * shape(0) to shape(4/12) = 1, then the steps
    want = [0.1 * (0.01 + 0.99 * i / 4 if i < 4 else 0.5 ** bisect_right([6, 9], i)) for i in range(15)]
    assert got == pytest.approx(want, rel=1e-12)
    assert isinstance(sched, core_lr.LRMultiplier) and sched.state_dict()["last_epoch"] == 15


@pytest.mark.parametrize("start", [1.0, 2.0])
def test_lr_multiplier_cosine_against_closed_form(start):
    from engine.slover import LRMultiplierScheduler
    param = {"name": "WarmupCosineLR", "end_value": 0.1}
    if start != 1.0:
        param["start_value"] = start
    got, _, _ = lrs(lambda o: LRMultiplierScheduler(o, 0.001, 2, param, 10, warmup_method="constant"), 10)
    cos = [0.1 + 0.5 * (start - 0.1) * (1 + math.cos(math.pi * i / 10)) for i in range(10)]
    want = [0.1 * (0.001 * start if i < 2 else cos[i]) for i in range(10)]
    assert got == pytest.approx(want, rel=1e-12)


def test_lr_multiplier_state_round_trip_and_warmup_longer_than_the_run():
    from engine.slover import LRMultiplierScheduler
    param = {"name": "WarmupMultiStepLR", "steps": [3]}
    _, sched, _ = lrs(lambda o: LRMultiplierScheduler(o, 0.1, 2, param, 8), 5)
    got, fresh, opt = lrs(lambda o: LRMultiplierScheduler(o, 0.1, 2, param, 8), 0)
    fresh.load_state_dict(sched.state_dict())
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1)  # iteration 5, after the step
    # the seed lets warmup cover the whole run: a ramp from 0.1 to shape(1) = 0.1
    got, _, _ = lrs(lambda o: LRMultiplierScheduler(o, 0.1, 50, param, 8), 8)
    assert got == pytest.approx([0.01] * 8)


def test_old_closed_forms_multistep_cosine_poly_empty():
    from engine.slover import (EmptyLRScheduler, WarmupCosineLR, WarmupMultiStepLR,
                               WarmupPolynomialDecay)
    got, _, _ = lrs(lambda o: WarmupMultiStepLR(o, [2, 7], gamma=0.5, warmup_factor=0.1, warmup_iter=4), 10)
    # the warmup factor multiplies the steps (a milestone inside the warmup counts)
    assert got == pytest.approx([0.1 * seed_warmup(i, 4, 0.1) * 0.5 ** bisect_right([2, 7], i)
                                 for i in range(10)])
    got, _, _ = lrs(lambda o: WarmupCosineLR(o, 8, warmup_factor=0.2, warmup_iter=3,
                                             warmup_method="constant"), 11)
    want = [0.1 * seed_warmup(i, 3, 0.2, "constant") * 0.5 * (1 + math.cos(math.pi * min(i, 8) / 8))
            for i in range(11)]
    assert got == pytest.approx(want) and got[8:] == [0.0] * 3  # held at the end, not rising again
    # the seed's positional order: (optimizer, max_iter, end_lr, power, last_epoch, warmup_factor, warmup_iter)
    got, sched, _ = lrs(lambda o: WarmupPolynomialDecay(o, 20, 1e-4, 2.0, -1, 0.1, 5), 20)
    assert isinstance(sched, core_lr.WarmupPolynomialDecay) and sched.warmup_factor == 0.1
    want = [0.1 * seed_warmup(i, 5, 0.1) * (1 - i / 20) ** 2 if i < 5 else 0.1 * (1 - (i - 5) / 15) ** 0.9
            for i in range(20)]
    assert got == pytest.approx(want)
    got, sched, _ = lrs(EmptyLRScheduler, 3)
    assert got == [0.1] * 3 and sched.get_last_lr() == [0.1]


def test_warmup_param_scheduler_values():
    from fvcore.common.param_scheduler import CosineParamScheduler
    from engine.slover.lr_scheduler import WarmupParamScheduler
    s = WarmupParamScheduler(CosineParamScheduler(1.0, 0.0), 0.01, 0.25)
    end = 0.5 * (1 + math.cos(math.pi * 0.25))
    assert s(0.0) == pytest.approx(0.01) and s(0.125) == pytest.approx((0.01 + end) / 2)
    assert s(0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        WarmupParamScheduler(CosineParamScheduler(1.0, 0.0), 0.01, 0.25, "exp")


def clipped_step(cfg, grads, optimizer_cls=torch.optim.SGD):
    from engine.slover import build_optimizer_with_gradient_clipping
    params = [nn.Parameter(torch.zeros(len(g))) for g in grads]
    opt = build_optimizer_with_gradient_clipping(cfg, optimizer_cls)(params, lr=1.0)
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    opt.step()
    return [(-p.detach()).tolist() for p in params], opt  # SGD lr=1 from 0: -grad


def test_gradient_clipping_by_norm_per_parameter_and_per_group():
    cfg = {"ENABLED": True, "CLIP_TYPE": "norm", "CLIP_VALUE": 1.0, "NORM_TYPE": 2.0}
    got, opt = clipped_step(cfg, [[3.0, 4.0], [0.3, 0.4]])
    assert got[0] == pytest.approx([0.6, 0.8]) and got[1] == pytest.approx([0.3, 0.4])
    assert isinstance(opt, torch.optim.SGD) and type(opt).__name__ == "SGDWithGradientClip"
    got, _ = clipped_step(dict(cfg, GROUP=True), [[3.0, 4.0], [0.0, 5.0]])
    scale = 1 / math.sqrt(50)
    assert got[0] == pytest.approx([3 * scale, 4 * scale]) and got[1] == pytest.approx([0, 5 * scale])


def test_gradient_clipping_by_value_disabled_and_subclassed():
    from engine.slover import GradientClipType, build_optimizer_with_gradient_clipping
    got, _ = clipped_step({"ENABLED": True, "CLIP_TYPE": GradientClipType.VALUE.value,
                           "CLIP_VALUE": 0.5}, [[3.0, -0.2, -4.0]])
    assert got[0] == pytest.approx([0.5, -0.2, -0.5])
    assert build_optimizer_with_gradient_clipping({"ENABLED": False}, torch.optim.Adam) is torch.optim.Adam
    cls = build_optimizer_with_gradient_clipping({"ENABLED": True, "CLIP_TYPE": "value"}, torch.optim.SGD)
    sub = type("Sub", (cls,), {})([nn.Parameter(torch.zeros(1))], lr=1.0)
    sub.param_groups[0]["params"][0].grad = torch.tensor([5.0])
    sub.step()  # the seed's super(type(self), self) recursed here
    assert sub.param_groups[0]["params"][0].item() == pytest.approx(-1.0)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    assert build_optimizer_with_gradient_clipping({"ENABLED": True}, opt) is opt and type(opt) is not torch.optim.SGD


class Bundle:
    """A seed-style model bundle: what CheckPointerManager saves."""

    def __init__(self):
        self.g_model = nn.Linear(3, 2)
        self.extra = None

    def get_state_dict(self):
        state = {"g_model": self.g_model.state_dict()}
        return dict(state, broken=self.extra) if self.extra is not None else state

    def get_addition_state_dict(self):
        return {"cfg": "SOLVER: {}", "g_optimizer": {"state": {}, "param_groups": []}}


def run(manager, bundle, iterations):
    weights = {}
    for i in iterations:
        with torch.no_grad():
            bundle.g_model.weight.fill_(float(i))
        manager.save(bundle, i)
        weights[i] = bundle.g_model.weight.detach().clone()
    return weights


def test_manager_period_keep_final_and_resume(tmp_path):
    from engine.checkpoint.checkpoint_manager import CheckPointerManager
    manager = CheckPointerManager(max_iter=10, save_dir=str(tmp_path), check_period=3,
                                  file_prefix="Net", max_keep=2)
    assert manager.check_period == 3
    bundle = Bundle()
    weights = run(manager, bundle, range(8))  # (i + 1) % 3 == 0: 2, 5 saved... then the next
    assert sorted(os.listdir(tmp_path)) == ["Net_0000002.pth", "Net_0000005.pth", "last_checkpoint"]
    state, addition, start = manager.resume_or_load("", resume=True)
    assert start == 6 and addition == {"cfg": "SOLVER: {}", "g_optimizer": {"state": {}, "param_groups": []}}
    assert torch.equal(state["g_model"]["weight"], weights[5])
    run(manager, bundle, range(8, 11))  # 8 periodic; 9 (= max_iter - 1) and 10 final
    assert sorted(os.listdir(tmp_path)) == ["Net_0000005.pth", "Net_0000008.pth", "Net_final.pth",
                                            "last_checkpoint"]
    for name in os.listdir(tmp_path):
        if name.endswith(".pth"):
            verify_checkpoint(str(tmp_path / name))  # our CRC32s are in every file
    assert manager.resume_or_load("", resume=True)[2] == 11
    state, addition, start = manager.resume_or_load(str(tmp_path / "Net_0000005.pth"), resume=False)
    assert torch.equal(state["g_model"]["weight"], weights[5]) and (addition, start) == (None, 0)
    assert manager.resume_or_load("", resume=False) == (None, None, 0)


def test_manager_damaged_files_are_detected_and_resume_falls_back(tmp_path):
    from engine.checkpoint.checkpoint_manager import CheckPointerManager
    manager = CheckPointerManager(max_iter=100, save_dir=str(tmp_path), check_period=2, file_prefix="Net")
    weights = run(manager, Bundle(), range(6))
    newest, older = tmp_path / "Net_0000005.pth", tmp_path / "Net_0000003.pth"
    data = bytearray(older.read_bytes())
    at = data.index(weights[3].numpy().tobytes())  # flip a byte of the weight tensor
    data[at] ^= 0xFF
    older.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError):
        verify_checkpoint(str(older))
    newest.write_bytes(newest.read_bytes()[:300])  # truncated newest
    state, _, start = manager.resume_or_load("", resume=True)
    assert start == 2 and torch.equal(state["g_model"]["weight"], weights[1])
    failed = [os.path.basename(p) for p, _ in manager.checkpointer.checkpointer.load_failures]
    assert failed == ["Net_0000005.pth", "Net_0000003.pth"]


def test_manager_interrupted_save_leaves_the_previous_files(tmp_path, monkeypatch):
    from engine.checkpoint.checkpoint_manager import CheckPointerManager

    def killed_save(obj, f):  # half a file written, then the process is interrupted
        f.write(b"PK\x03\x04" + bytes(1000))
        raise KeyboardInterrupt

    manager = CheckPointerManager(max_iter=100, save_dir=str(tmp_path), check_period=1, file_prefix="Net")
    run(manager, Bundle(), [0])
    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", killed_save)
        with pytest.raises(KeyboardInterrupt):
            run(manager, Bundle(), [1])
    assert sorted(os.listdir(tmp_path)) == ["Net_0000000.pth", "last_checkpoint"]
    assert (tmp_path / "last_checkpoint").read_text().strip() == "Net_0000000.pth"
    (tmp_path / ".Net_0000001.pth.0a1b2c3d.tmp").write_bytes(b"PK")  # what SIGKILL leaves
    assert manager.resume_or_load("", resume=True)[2] == 1
    assert sorted(os.listdir(tmp_path)) == ["Net_0000000.pth", "last_checkpoint"]


def test_manager_period_zero_no_disk_and_seed_written_files(tmp_path):
    from engine.checkpoint.checkpoint_manager import CheckPointerManager
    run(CheckPointerManager(max_iter=4, save_dir=str(tmp_path / "a"), file_prefix="Net"), Bundle(), range(4))
    assert sorted(os.listdir(tmp_path / "a")) == ["Net_final.pth", "last_checkpoint"]
    run(CheckPointerManager(4, str(tmp_path / "b"), 1, save_to_disk=False), Bundle(), range(4))
    assert not (tmp_path / "b").exists()
    seed_dir = tmp_path / "seed"  # what the seed wrote: no top-level iteration
    seed_dir.mkdir()
    torch.save({"model": {"g_model": {"w": torch.ones(2)}}, "checkpointables": {"iteration": 4, "cfg": ""}},
               str(seed_dir / "Net_0000004.pth"))
    (seed_dir / "last_checkpoint").write_text("Net_0000004.pth")
    manager = CheckPointerManager(10, str(seed_dir), 5, file_prefix="Net")
    state, addition, start = manager.resume_or_load("", resume=True)
    assert start == 5 and addition == {"cfg": ""} and torch.equal(state["g_model"]["w"], torch.ones(2))
