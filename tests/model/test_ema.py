"""EMA of the generator: torch's AveragedModel arithmetic, decay warmup, update period,
exact state round trip."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from yacs.config import CfgNode as CN

from engine.model.ema import ModelEMA, build_ema, ema_decay
from engine.utils.errors import ConfigError


def net_with_bn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def train_steps(net, n, seed=1):
    """n SGD steps of ``net``, yielding after each."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(n):
        opt.zero_grad()
        net(torch.randn(16, 4, generator=g)).pow(2).mean().backward()
        opt.step()
        yield


def float_state(module):
    return {k: v for k, v in module.state_dict().items() if v.is_floating_point()}


def test_same_arithmetic_as_torch_averaged_model_with_ema_fn():
    net = net_with_bn()
    ours = ModelEMA(net, decay=0.9)
    torch_ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    for _ in train_steps(net, 7):
        ours.step(net)
        torch_ema.update_parameters(net)
    a, b = float_state(ours.module), float_state(torch_ema.module)
    assert a.keys() == b.keys() and len(a) == 8  # weights, biases, BN running mean/var
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ours.n_averaged == torch_ema.n_averaged == 7
    # integer buffers are copied (torch would average num_batches_tracked and truncate)
    assert ours.module[1].num_batches_tracked == net[1].num_batches_tracked == 7


@pytest.mark.parametrize("warmup, formula", [
    ("exp", lambda d, s, tau: d * (1 - math.exp(-s / tau))),
    ("ratio", lambda d, s, tau: min(d, (1 + s) / (10 + s))),
    ("none", lambda d, s, tau: d),
])
def test_decay_warmup_formulas_and_their_effect(warmup, formula):
    decay, tau = 0.99, 3.0
    assert [ema_decay(decay, s, warmup, tau) for s in range(1, 50)] == pytest.approx(
        [formula(decay, s, tau) for s in range(1, 50)])
    net = net_with_bn()
    ema = ModelEMA(net, decay=decay, warmup=warmup, tau=tau)
    ref = None
    for step, _ in enumerate(train_steps(net, 6), start=1):
        ema.step(net)
        w = net[0].weight.detach()
        d = formula(decay, step, tau)
        ref = w.clone() if ref is None else d * ref + (1 - d) * w
        assert ema.current_decay == pytest.approx(d)
    assert torch.allclose(ema.module[0].weight, ref, atol=1e-6)


def test_update_every_k_steps_counts_optimizer_steps():
    net = net_with_bn()
    ema = ModelEMA(net, decay=0.5, update_every=3)
    history = []
    for _ in train_steps(net, 9):
        updated = ema.step(net)
        history.append((updated, ema.module[0].weight.clone(), net[0].weight.detach().clone()))
    assert [h[0] for h in history] == [False, False, True] * 3
    assert ema.num_steps == 9 and ema.n_averaged == 3
    assert torch.equal(history[2][1], history[2][2])  # first update (step 3): a copy
    assert torch.equal(history[3][1], history[2][1]) and torch.equal(history[4][1], history[2][1])
    assert torch.allclose(history[5][1], 0.5 * history[2][1] + 0.5 * history[5][2])


def test_state_round_trip_continues_exactly():
    net = net_with_bn()
    ema = ModelEMA(net, decay=0.9, warmup="exp", tau=2.0, update_every=2)
    steps = train_steps(net, 10)
    for _ in range(5):
        next(steps)
        ema.step(net)
    state = copy.deepcopy(ema.state_dict())
    assert state["_extra_state"] == {"num_steps": 5} and int(state["n_averaged"]) == 2

    resumed = ModelEMA(copy.deepcopy(net), decay=0.9, warmup="exp", tau=2.0, update_every=2)
    resumed.load_state_dict(state)
    for _ in steps:
        ema.step(net)
        resumed.step(net)
    assert resumed.num_steps == ema.num_steps == 10
    assert all(torch.equal(a, b) for a, b in zip(ema.state_dict().values(), resumed.state_dict().values())
               if isinstance(a, torch.Tensor))


def test_state_without_step_count_still_loads():
    net = net_with_bn()
    ema = ModelEMA(net, decay=0.9)
    ema.step(net)
    state = {k: v for k, v in ema.state_dict().items() if k != "_extra_state"}
    other = ModelEMA(net, decay=0.9)
    other.load_state_dict(state)
    assert other.num_steps == 1


def test_build_from_config_and_disabled():
    net = nn.Linear(2, 2)
    assert build_ema(net, CN({"ENABLED": False})) is None
    ema = build_ema(net, CN({"ENABLED": True, "DECAY_RATE": 0.99, "WARMUP": "ratio", "TAU": 10.0,
                             "UPDATE_EVERY": 4}))
    assert (ema.decay, ema.warmup, ema.tau, ema.update_every) == (0.99, "ratio", 10.0, 4)
    assert not any(p.requires_grad for p in ema.parameters())


@pytest.mark.parametrize("node, pattern", [
    ({"enabled": True, "warmup": "linear"}, r"trainer\.model\.ema\.warmup must be one of \['none', 'exp', 'ratio'\]"),
    ({"enabled": True, "update_every": 0}, r"update_every must be an integer >= 1"),
    ({"enabled": True, "tau": 0}, r"tau must be a number > 0"),
    ({"enabled": True, "decay_rate": 1.0}, r"decay_rate must be in \(0, 1\)"),
    ({"enabled": True, "decay": 0.9}, r"unknown keys \['decay'\]"),
])
def test_bad_ema_config_is_one_clear_error(node, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_ema(nn.Linear(2, 2), node)


@pytest.mark.parametrize("decay", [-0.1, 1.5])
def test_a_decay_outside_0_1_is_refused_when_the_ema_is_built_directly(decay):
    # build_ema checks the config; ModelEMA built in Python checks what torch's EMA function did
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\]"):
        ModelEMA(nn.Linear(2, 2), decay=decay)


def test_the_shared_update_is_torchs_ema_function_bit_for_bit():
    # ModelEMA and the seed's EMA (engine/compat/seed/ema.py) both move their averages so
    from engine.model.ema import lerp_toward

    g = torch.Generator().manual_seed(0)
    ours = [torch.randn(5, 3, generator=g), torch.randn(7, generator=g, dtype=torch.float64)]
    theirs = [t.clone() for t in ours]
    values = [torch.randn(5, 3, generator=g), torch.randn(7, generator=g, dtype=torch.float64)]
    for decay in (0.9, 0.999, 0.12345):
        lerp_toward(ours, values, decay)
        get_ema_multi_avg_fn(decay)(theirs, values, None)
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
