"""engine.solver: optimizers, LR schedules (closed forms and torch equivalents), clipping."""
import math

import pytest
import torch
from yacs.config import CfgNode as CN

from engine.solver import (
    LR_SCHEDULER_REGISTRY,
    OPTIMIZER_REGISTRY,
    GradientClipper,
    LRMultiplier,
    build_lr_scheduler,
    build_optimizer,
)
from engine.utils.errors import ConfigError

BASE_LR = 0.1


def sgd(lr=BASE_LR, n_groups=1):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr * (i + 1)}
              for i in range(n_groups)]
    return torch.optim.SGD(groups, lr=lr)


def lrs(scheduler, n, group=0):
    """LR used at iterations 0..n-1, stepping as the trainer does."""
    out = []
    for _ in range(n):
        out.append(scheduler.optimizer.param_groups[group]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def multiplier_node(shape, max_iter=None, **params):
    p = {"lr_scheduler_param": shape}
    if max_iter is not None:
        p["max_iter"] = max_iter
    p.update(params)
    return {"enabled": True, "type": "LRMultiplierScheduler", "params": p}


def schedule(shape, max_iter, n=None, **params):
    sched = build_lr_scheduler(sgd(), multiplier_node(shape, **params), max_iter)
    return lrs(sched, max_iter if n is None else n)


# ------------------------------------------------------------------------ optimizer
def test_torch_optimizers_are_registered_by_class_name():
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]:
        assert OPTIMIZER_REGISTRY.get(name) is getattr(torch.optim, name)


def test_build_optimizer_from_upper_case_yacs_node():
    node = CN({"TYPE": "Adam", "PARAMS": {"LR": 0.01, "WEIGHT_DECAY": 1e-6, "BETAS": [0.8, 0.9]},
               "CLIP_GRADIENTS": {"ENABLED": False}})
    opt = build_optimizer(torch.nn.Linear(3, 2), node)
    assert isinstance(opt, torch.optim.Adam)
    group = opt.param_groups[0]
    assert (group["lr"], group["weight_decay"], tuple(group["betas"])) == (0.01, 1e-6, (0.8, 0.9))


def test_build_optimizer_from_lower_case_dict_skips_frozen_parameters():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    net[0].requires_grad_(False)
    opt = build_optimizer(net, {"type": "SGD", "params": {"lr": 0.5, "momentum": 0.9}})
    assert [p.shape for p in opt.param_groups[0]["params"]] == [torch.Size([1, 3]), torch.Size([1])]
    assert opt.param_groups[0]["momentum"] == 0.9


def test_build_optimizer_accepts_param_groups():
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = build_optimizer([{"params": [a]}, {"params": [b], "lr": 0.01}],
                          {"type": "SGD", "params": {"lr": 1.0}})
    assert [g["lr"] for g in opt.param_groups] == [1.0, 0.01]


def test_unknown_optimizer_type_lists_registered_names():
    with pytest.raises(ConfigError, match=r"solver\.generator\.optimizer\.type.*'Adamm'.*Adam") as e:
        build_optimizer(torch.nn.Linear(1, 1), {"type": "Adamm", "params": {}})
    assert "AdamW" in str(e.value)


def test_optimizer_param_that_does_not_fit_names_key_path_and_valid_parameters():
    with pytest.raises(ConfigError) as e:
        build_optimizer(torch.nn.Linear(1, 1), {"type": "Adam", "params": {"lr": 0.1, "momentum": 0.9}},
                        where="solver.discriminator.optimizer")
    msg = str(e.value)
    assert "solver.discriminator.optimizer.params" in msg and "'momentum'" in msg
    assert "betas" in msg and "weight_decay" in msg


def test_optimizer_value_refused_by_torch_is_a_config_error():
    with pytest.raises(ConfigError, match=r"optimizer\.params: SGD refused.*lr"):
        build_optimizer(torch.nn.Linear(1, 1), {"type": "SGD", "params": {"lr": -1.0}})


def test_yaml_string_number_is_reported_as_such():
    with pytest.raises(ConfigError, match=r"lr='1e-3' is a string.*1\.0e-3"):
        build_optimizer(torch.nn.Linear(1, 1), {"type": "SGD", "params": {"lr": "1e-3"}})


def test_unknown_optimizer_node_key_is_refused():
    with pytest.raises(ConfigError, match=r"unknown keys \['param'\]"):
        build_optimizer(torch.nn.Linear(1, 1), {"type": "SGD", "param": {"lr": 1.0}})


def test_user_registered_optimizer_is_built():
    @OPTIMIZER_REGISTRY.register()
    class TestOnlySGD(torch.optim.SGD):
        pass

    opt = build_optimizer(torch.nn.Linear(1, 1), {"type": "TestOnlySGD", "params": {"lr": 0.3}})
    assert type(opt) is TestOnlySGD


# ---------------------------------------------------------- schedules vs torch's own
def test_multistep_without_warmup_matches_torch_multisteplr():
    ours = schedule({"name": "WarmupMultiStepLR", "gamma": 0.5, "steps": [7, 20, 33]}, 40)
    opt = sgd()
    ref = lrs(torch.optim.lr_scheduler.MultiStepLR(opt, [7, 20, 33], gamma=0.5), 40)
    assert ours == pytest.approx(ref, rel=1e-12)


def test_step_matches_torch_steplr():
    ours = schedule({"name": "WarmupStepLR", "step_size": 6, "gamma": 0.3}, 31)
    ref = lrs(torch.optim.lr_scheduler.StepLR(sgd(), step_size=6, gamma=0.3), 31)
    assert ours == pytest.approx(ref, rel=1e-12)


def test_cosine_matches_torch_cosineannealinglr():
    ours = schedule({"name": "WarmupCosineLR", "end_value": 0.1}, 50, n=51)
    ref = lrs(torch.optim.lr_scheduler.CosineAnnealingLR(sgd(), T_max=50, eta_min=BASE_LR * 0.1), 51)
    assert ours == pytest.approx(ref, rel=1e-9)


def test_poly_matches_torch_polynomiallr():
    ours = schedule({"name": "WarmupPolyLR", "power": 0.9}, 30, n=31)
    ref = lrs(torch.optim.lr_scheduler.PolynomialLR(sgd(), total_iters=30, power=0.9), 31)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_exponential_gamma_matches_torch_exponentiallr():
    ours = schedule({"name": "WarmupExponentialLR", "gamma": 0.9}, 25)
    ref = lrs(torch.optim.lr_scheduler.ExponentialLR(sgd(), gamma=0.9), 25)
    assert ours == pytest.approx(ref, rel=1e-9)


# ------------------------------------------------------------- closed-form schedules
def test_exponential_decay_reaches_decay_at_max_iter():
    ours = schedule({"name": "WarmupExponentialLR", "decay": 0.01}, 20, n=21)
    assert ours == pytest.approx([BASE_LR * 0.01 ** (i / 20) for i in range(21)])


def test_poly_with_end_value():
    ours = schedule({"name": "WarmupPolyLR", "power": 2.0, "end_value": 0.2}, 10, n=11)
    assert ours == pytest.approx([BASE_LR * (0.2 + 0.8 * (1 - i / 10) ** 2) for i in range(11)])


def test_constant_stays_at_base_lr_past_max_iter():
    assert schedule({"name": "WarmupConstantLR"}, 5, n=8) == [BASE_LR] * 8


def test_one_cycle_rises_to_base_lr_then_falls():
    ours = schedule({"name": "OneCycleLR", "pct_start": 0.25, "div_factor": 10,
                     "final_div_factor": 100}, 40, n=41)
    assert ours[0] == pytest.approx(BASE_LR / 10)
    assert max(ours) == pytest.approx(BASE_LR) and ours[10] == pytest.approx(BASE_LR)
    assert ours[40] == pytest.approx(BASE_LR / 1000)
    assert ours[5] == pytest.approx(BASE_LR / 10 + (BASE_LR - BASE_LR / 10) * 0.5)


def test_every_param_group_is_scaled_from_its_own_base_lr():
    sched = build_lr_scheduler(sgd(n_groups=2), multiplier_node(
        {"name": "WarmupMultiStepLR", "gamma": 0.1, "steps": [2]}), 4)
    assert lrs(sched, 4, group=1) == pytest.approx([0.2, 0.2, 0.02, 0.02])


# ------------------------------------------------------------------------- warmup
def test_linear_warmup_at_start_middle_and_end():
    factor, w = 0.01, 10
    ours = schedule({"name": "WarmupMultiStepLR", "gamma": 0.1, "steps": [15]}, 20,
                    warmup_factor=factor, warmup_iter=w, warmup_method="linear")
    for i in range(w):
        alpha = i / w
        assert ours[i] == pytest.approx(BASE_LR * (factor * (1 - alpha) + alpha))
    assert ours[0] == pytest.approx(BASE_LR * factor)
    assert ours[5] == pytest.approx(BASE_LR * (factor + 1) / 2)
    assert ours[w - 1] < BASE_LR and ours[w] == BASE_LR and ours[14] == BASE_LR
    assert ours[15] == pytest.approx(BASE_LR * 0.1)


def test_constant_warmup_holds_factor_until_warmup_iter():
    ours = schedule({"name": "WarmupConstantLR"}, 20, warmup_factor=0.1, warmup_iter=5,
                    warmup_method="constant")
    assert ours[:5] == pytest.approx([BASE_LR * 0.1] * 5) and ours[5:] == [BASE_LR] * 15


def test_warmup_ends_on_the_shape_without_delaying_it():
    m, w = 40, 8
    ours = schedule({"name": "WarmupCosineLR"}, m, warmup_factor=0.0, warmup_iter=w)
    cos = [BASE_LR * 0.5 * (1 + math.cos(math.pi * i / m)) for i in range(m)]
    assert ours[0] == 0.0
    assert ours[w // 2] == pytest.approx(cos[w] / 2)
    assert ours[w:] == pytest.approx(cos[w:])


def test_boundaries_are_exact_in_very_long_runs():
    # fvcore's fixed 1e-6 epsilon would move these boundaries 10 iterations early.
    m = 10_000_000
    sched = build_lr_scheduler(sgd(), multiplier_node(
        {"name": "WarmupMultiStepLR", "steps": [5_000_000]}, warmup_iter=1000, warmup_factor=0.5), m)
    assert sched.factor_at(999) < 1.0 and sched.factor_at(1000) == 1.0
    assert sched.factor_at(4_999_999) == 1.0 and sched.factor_at(5_000_000) == pytest.approx(0.1)


def test_warmup_may_span_the_whole_run():
    ours = schedule({"name": "WarmupConstantLR"}, 4, n=5, warmup_iter=4, warmup_factor=0.0)
    assert ours == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1])


# ------------------------------------------------------------------ state and resume
def test_state_dict_is_tiny_and_round_trip_gives_identical_next_values():
    node = multiplier_node({"name": "WarmupCosineLR", "end_value": 0.05}, warmup_iter=10)
    first = build_lr_scheduler(sgd(), node, 100)
    lrs(first, 37)
    state = first.state_dict()
    assert set(state) == {"base_lrs", "last_epoch"} and state["last_epoch"] == 37
    expected = lrs(first, 63)

    resumed = build_lr_scheduler(sgd(), node, 100)
    resumed.load_state_dict(state)
    assert resumed.optimizer.param_groups[0]["lr"] == expected[0]
    assert lrs(resumed, 63) == expected


def test_lr_multiplier_accepts_any_progress_function():
    sched = LRMultiplier(sgd(), lambda where: 1.0 - where, max_iter=4)
    assert lrs(sched, 6) == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0, 0.0])


# --------------------------------------------------------------------- config forms
def test_seed_config_builds_and_ignores_steps_past_max_iter(caplog):
    node = CN({"ENABLED": True, "TYPE": "LRMultiplierScheduler", "PARAMS": {
        "LR_SCHEDULER_PARAM": {"NAME": "WarmupMultiStepLR", "GAMMA": 0.1,
                               "STEPS": [40000, 120000, 180000, 240000]},
        "MAX_ITER": 200000, "WARMUP_FACTOR": 0.01, "WARMUP_ITER": 500, "WARMUP_METHOD": "linear"}})
    sched = build_lr_scheduler(sgd(), node, 200000)
    assert isinstance(sched, LRMultiplier)
    assert [sched.factor_at(i) for i in (0, 500, 40000, 120000, 199999, 200000)] == pytest.approx(
        [0.01, 1.0, 0.1, 0.01, 0.001, 0.001])
    assert "[240000] are at or past max_iter=200000" in caplog.text


def test_params_max_iter_defaults_to_solver_max_iter():
    sched = build_lr_scheduler(sgd(), multiplier_node({"name": "WarmupCosineLR"}), 10)
    assert sched.factor_at(5) == pytest.approx(0.5)


def test_disabled_or_missing_scheduler_is_none():
    assert build_lr_scheduler(sgd(), CN({"ENABLED": False, "TYPE": "LRMultiplierScheduler"}), 10) is None
    assert build_lr_scheduler(sgd(), None, 10) is None


def test_torch_scheduler_class_by_type_is_stepped_per_iteration():
    sched = build_lr_scheduler(sgd(), CN({"ENABLED": True, "TYPE": "StepLR",
                                          "PARAMS": {"STEP_SIZE": 2, "GAMMA": 0.5}}), 10)
    assert lrs(sched, 5) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_torch_scheduler_lengths_default_to_max_iter():
    cos = build_lr_scheduler(sgd(), {"type": "CosineAnnealingLR", "params": {}}, 10)
    assert cos.T_max == 10
    cyc = build_lr_scheduler(sgd(), {"type": "OneCycleLR", "params": {"max_lr": 1.0}}, 10)
    assert cyc.total_steps == 10
    upper = build_lr_scheduler(sgd(), CN({"TYPE": "CosineAnnealingLR", "PARAMS": {"T_MAX": 3}}), 10)
    assert upper.T_max == 3


def test_user_registered_shape_gets_warmup_too():
    from fvcore.common.param_scheduler import LinearParamScheduler

    @LR_SCHEDULER_REGISTRY.register()
    def TestOnlyLinearDecay(max_iter, end=0.0):
        return LinearParamScheduler(1.0, end)

    ours = schedule({"name": "TestOnlyLinearDecay", "end": 0.5}, 10, warmup_iter=2, warmup_factor=0.0)
    assert ours[0] == 0.0 and ours[2:] == pytest.approx([BASE_LR * (1 - 0.05 * i) for i in range(2, 10)])


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("node, max_iter, pattern", [
    ({"type": "Cosine", "params": {}}, 10,
     r"lr_scheduler\.type: 'Cosine' is not a known.*LRMultiplierScheduler.*WarmupCosineLR.*CosineAnnealingLR"),
    ({"type": "LambdaLR", "params": {}}, 10, r"needs callables"),
    ({"enabled": True}, 10, r"lr_scheduler\.type is not set"),
    (multiplier_node({"name": "WarmupMultistepLR", "steps": [3]}), 10,
     r"lr_scheduler_param\.name: 'WarmupMultistepLR' is not registered.*WarmupMultiStepLR"),
    (multiplier_node({"steps": [3]}), 10, r"lr_scheduler_param\.name is not set.*WarmupCosineLR"),
    (multiplier_node({"name": "WarmupCosineLR"}, warmup_iter=11), 10,
     r"params\.warmup_iter=11 is longer than max_iter=10"),
    (multiplier_node({"name": "WarmupMultiStepLR", "steps": [5, 3]}), 10,
     r"lr_scheduler_param \(WarmupMultiStepLR\): steps must be strictly increasing, got \[5, 3\]"),
    (multiplier_node({"name": "WarmupMultiStepLR", "steps": [0, 3]}), 10, r"positive integer"),
    (multiplier_node({"name": "WarmupCosineLR"}, warmup_method="exp", warmup_iter=2), 10,
     r"params\.warmup_method must be one of \['linear', 'constant'\], got 'exp'"),
    (multiplier_node({"name": "WarmupStepLR", "gama": 0.1, "step_size": 2}), 10,
     r"has no parameter 'gama' \(did you mean 'gamma'\?\).*\['step_size', 'gamma'\]"),
    (multiplier_node({"name": "WarmupCosineLR", "warmup_iter": 5}), 10, r"belong one level up"),
    (multiplier_node({"name": "WarmupExponentialLR"}), 10, r"exactly one of 'gamma'"),
    ({"type": "StepLR", "params": {"step": 2}}, 10, r"params \(StepLR\): StepLR has no parameter 'step'"),
])
def test_bad_lr_scheduler_config_names_the_key(node, max_iter, pattern):
    with pytest.raises(ConfigError, match=pattern) as e:
        build_lr_scheduler(sgd(), node, max_iter)
    assert str(e.value).startswith("solver.generator.lr_scheduler")


# ------------------------------------------------------------------------- clipping
def _with_grads(scale=10.0):
    net = torch.nn.Linear(4, 3)
    for i, p in enumerate(net.parameters()):
        p.grad = torch.full_like(p, scale * (i + 1))
    return net


def _norm(net):
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))


def test_norm_clipping_bounds_total_norm_and_returns_norm_before():
    net = _with_grads()
    before = _norm(net)
    clip = GradientClipper(CN({"ENABLED": True, "CLIP_TYPE": "norm", "CLIP_VALUE": 1.5, "NORM_TYPE": 2.0}))
    returned = clip(net.parameters())
    assert returned == pytest.approx(before.item())
    assert _norm(net) == pytest.approx(1.5, rel=1e-5)


def test_value_clipping_bounds_every_element():
    net = _with_grads()
    norm = GradientClipper({"enabled": True, "clip_type": "value", "clip_value": 0.5})(net)
    assert all(p.grad.abs().max() <= 0.5 for p in net.parameters())
    assert norm is not None and norm > 0.5


def test_disabled_clipper_leaves_gradients_alone():
    net = _with_grads()
    before = [p.grad.clone() for p in net.parameters()]
    clip = GradientClipper.from_optimizer_node({"type": "SGD", "params": {}})
    assert clip.enabled is False and clip(net) is None
    assert all(torch.equal(a, p.grad) for a, p in zip(before, net.parameters()))


def test_clipper_defaults_for_missing_keys():
    clip = GradientClipper.from_optimizer_node(CN({"CLIP_GRADIENTS": {"ENABLED": True}}))
    assert (clip.enabled, clip.clip_type, clip.clip_value, clip.norm_type) == (True, "norm", 1.0, 2.0)


@pytest.mark.parametrize("node, pattern", [
    ({"enabled": True, "clip_type": "l2"}, r"clip_gradients\.clip_type must be one of \['norm', 'value'\]"),
    ({"enabled": True, "clip_value": 0}, r"clip_gradients\.clip_value must be > 0"),
    ({"enabled": True, "max_norm": 1.0}, r"unknown keys \['max_norm'\]"),
])
def test_bad_clip_config_names_the_key(node, pattern):
    with pytest.raises(ConfigError, match=pattern):
        GradientClipper(node)
