"""The seed's WarmupPolynomialDecay (type='WarmupPolynomialDecay'), against its formula."""
import pytest
import torch

from engine.config import get_default_cfg
from engine.config.node import CfgNode
from engine.solver.lr_scheduler import WarmupPolynomialDecay, build_lr_scheduler
from engine.utils.errors import ConfigError


def seed_formula(base, i, max_iter, end_lr=1e-4, power=1.0, warmup_factor=0.001, warmup_iter=1000,
                 warmup_method="linear", simple=True):
    """Written from the seed's definition, independently of the engine's code."""
    if i < warmup_iter:
        f = warmup_factor if warmup_method == "constant" else \
            warmup_factor * (1 - i / warmup_iter) + i / warmup_iter
        return base * f * (1 - i / max_iter) ** power
    t = (i - warmup_iter) / (max_iter - warmup_iter)
    if simple:
        return base * (1 - t) ** 0.9
    return (base - end_lr) * (1 - t) ** power + end_lr


def lrs(params, steps, base=0.1, max_iter=20):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    node = CfgNode({"ENABLED": True, "TYPE": "WarmupPolynomialDecay", "PARAMS": params})
    scheduler = build_lr_scheduler(optimizer, node, max_iter)
    assert isinstance(scheduler, WarmupPolynomialDecay)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out, scheduler, optimizer


@pytest.mark.parametrize("params", [
    dict(warmup_iter=5, warmup_factor=0.01, power=0.9, end_lr=1e-5, simple=True),
    dict(warmup_iter=5, warmup_factor=0.01, power=2.0, end_lr=1e-3, simple=False),
    dict(warmup_iter=0, power=1.5, simple=False),
    dict(warmup_iter=4, warmup_method="constant", warmup_factor=0.1, simple=False),
])
def test_lr_follows_the_seed_formula(params):
    got, _, _ = lrs(dict(params), 21)
    want = [seed_formula(0.1, i, 20, **params) for i in range(21)]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_the_lr_stays_at_the_end_value_past_max_iter():
    got, _, _ = lrs(dict(warmup_iter=2, simple=False, end_lr=0.002), 25)
    assert got[20:] == pytest.approx([0.002] * 5)


def test_resume_restores_the_lr():
    _, scheduler, _ = lrs(dict(warmup_iter=3, simple=False), 7)
    state = scheduler.state_dict()
    assert set(state) == {"base_lrs", "last_epoch"}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    fresh = WarmupPolynomialDecay(optimizer, max_iter=20, warmup_iter=3, simple=False)
    fresh.load_state_dict(state)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(seed_formula(0.1, 7, 20, warmup_iter=3, simple=False))


def test_max_iter_defaults_to_solver_max_iter():
    assert get_default_cfg().SOLVER.MAX_ITER == 1000
    _, scheduler, _ = lrs(dict(warmup_iter=2), 1, max_iter=37)
    assert scheduler.max_iter == 37


def test_warmup_longer_than_max_iter_is_refused():
    expected = r"params \(WarmupPolynomialDecay\): warmup_iter=1000 is longer than max_iter=20"
    with pytest.raises(ConfigError, match=expected):
        lrs({}, 1)  # the seed's default warmup_iter=1000


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match="has no parameter 'powr' \\(did you mean 'power'\\?\\)"):
        lrs(dict(warmup_iter=1, powr=2.0), 1)
