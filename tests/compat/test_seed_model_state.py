"""The seed's model-side helpers on ours: tolerant state-dict loading, the parameter-list
EMA (its swap round trip, and decays that agree with our ModelEMA), optimizer/scheduler
lookup by name, weight initialisers. (The solver/checkpoint half: test_seed_solver_checkpoint.py.)"""
import logging

import pytest
import torch
from torch import nn

from engine.model.ema import ModelEMA, build_ema, ema_decay


def net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_load_model_state_dict_strips_module_and_reports(caplog):
    from engine.checkpoint.functional import (get_model_state_dict, load_checkpoint_state_dict,
                                              load_model_state_dict)
    source, target = net(0), net(1)
    saved = {"module." + k: v for k, v in nn.DataParallel(source).module.state_dict().items()}
    saved["module.2.weight"] = torch.zeros(5, 4)  # shape mismatch: kept as it is
    saved["module.head.weight"] = torch.zeros(1)  # not in the network
    before = target[2].weight.detach().clone()
    with caplog.at_level(logging.WARNING, logger="seed_run"):
        report = load_model_state_dict(target, saved, log_name="seed_run")
    assert torch.equal(target[0].weight, source[0].weight) and torch.equal(target[2].bias, source[2].bias)
    assert torch.equal(target[2].weight, before)
    assert report["shape_mismatch"] == ["2.weight"] and report["unexpected"] == ["module.head.weight"]
    assert "2.weight" in caplog.text and "module.head.weight" in caplog.text
    wrapped = nn.DataParallel(net(2))
    assert list(get_model_state_dict(wrapped)) == list(source.state_dict())  # no 'module.'
    load_checkpoint_state_dict(wrapped, source.state_dict())
    assert torch.equal(wrapped.module[0].weight, source[0].weight)
    with pytest.raises(RuntimeError):
        load_checkpoint_state_dict(wrapped, saved)  # strict


def trajectory(n, seed=3):
    """n successive weight sets of the network (what training would produce)."""
    g = torch.Generator().manual_seed(seed)
    model = net()
    for _ in range(n):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g))
        yield model


@pytest.mark.parametrize("num_updates", [None, 0, 7])
def test_seed_ema_decays_are_ours(num_updates):
    from engine.model.ema import EMA
    ema = EMA(net().parameters(), 0.99, num_updates=num_updates)
    decays = []
    for model in trajectory(5):
        ema.update(model.parameters())
        decays.append(ema.current_decay)
    if num_updates is None:
        assert decays == [0.99] * 5
    else:  # the seed's min(decay, (1 + n) / (10 + n)), n counted from num_updates
        assert decays == [min(0.99, (1 + n) / (10 + n)) for n in range(num_updates + 1, num_updates + 6)]
        assert decays == [ema_decay(0.99, n, "ratio") for n in range(num_updates + 1, num_updates + 6)]
        assert ema.num_updates == num_updates + 5


def test_seed_ema_follows_our_model_ema_for_the_aliased_settings():
    """solver.ema.num_updates 0 is our warmup 'ratio' (engine/compat/seed/config_aliases.py): the same
    averages, given the same starting weights (ours copies on its first update; the seed
    starts from the weights it was built with)."""
    from engine.compat.seed.config_aliases import translate_aliases
    from engine.model.ema import EMA
    tree = translate_aliases({"SOLVER": {"EMA": {"ENABLED": True, "DECAY_RATE": 0.9, "NUM_UPDATES": 0}}}, "t")
    start = net()
    seed_ema = EMA(start.parameters(), 0.9, num_updates=0)
    ours = build_ema(start, tree["TRAINER"]["MODEL"]["EMA"])
    assert isinstance(ours, ModelEMA) and ours.warmup == "ratio"
    ours.n_averaged.fill_(1)  # started from `start`, as the seed's is
    for model in trajectory(6):
        seed_ema.update(model.parameters())
        ours.step(model)
    assert all(torch.equal(s, o) for s, o in zip(seed_ema.shadow_params, ours.module.parameters()))
    # and by hand, from the seed's definition
    expected = [p.detach().clone() for p in start.parameters()]
    for n, model in enumerate(trajectory(6), start=1):
        d = min(0.9, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]
    assert all(torch.allclose(s, e, atol=1e-6) for s, e in zip(seed_ema.shadow_params, expected))


def test_seed_ema_store_copy_copy_back_with_a_frozen_layer():
    from engine.model.ema import EMA
    model = net()
    model[0].bias.requires_grad_(False)  # the seed paired parameters by position here
    ema = EMA(model.parameters(), 0.5)
    frozen = model[0].bias.detach().clone()
    trained = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(2.0)
    ema.update(model.parameters())  # averages: trained + 1
    live = [p.detach().clone() for p in model.parameters()]
    ema.store(model.parameters())
    ema.copy(model.parameters())
    for p, t in zip(model.parameters(), trained):
        assert torch.allclose(p, t if not p.requires_grad else t + 1.0, atol=1e-6)
    assert torch.equal(model[0].bias, frozen)
    ema.copy_back(model.parameters())
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), live))
    state = ema.state_dict()
    other = EMA(net(5).parameters(), 0.9)
    with pytest.raises(ValueError):
        other.load_state_dict(state)  # 5 averaged parameters, not 6
    again = EMA(model.parameters(), 0.1)
    again.load_state_dict(state)
    again.to("cpu", torch.float64)
    assert again.decay_rate == 0.5 and again.shadow_params[0].dtype == torch.float64
    assert all(torch.equal(a.float(), b) for a, b in zip(again.shadow_params, ema.shadow_params))


def test_import_optimizer_scheduler_and_weights_init():
    from engine.model.import_optimizer import import_optimizer
    from engine.model.import_scheduler import import_scheduler
    from engine.model.init_model import select_weights_init
    from engine.slover import LRMultiplierScheduler
    from engine.utils.errors import ConfigError
    assert import_optimizer("AdamW") is torch.optim.AdamW and import_optimizer("LBFGS") is torch.optim.LBFGS
    assert import_scheduler("StepLR") is torch.optim.lr_scheduler.StepLR
    assert import_scheduler("LRMultiplierScheduler") is LRMultiplierScheduler
    with pytest.raises(ConfigError, match="Adam"):
        import_optimizer("Adamm")
    with pytest.raises(ConfigError):
        import_scheduler("WarmupParamScheduler")  # a ParamScheduler, not an LR scheduler

    class ConvBlock(nn.Module):  # a container named Conv*: the seed raised AttributeError
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(2, 8, 3), nn.BatchNorm2d(8)

    for kind, std in (("kaiming", (2 / 18) ** 0.5), ("xavier", (2 / (18 + 72)) ** 0.5)):
        torch.manual_seed(0)
        block = ConvBlock()
        with torch.no_grad():
            block.conv.weight.fill_(0.0)
            block.bn.bias.fill_(3.0)
        block.apply(select_weights_init(kind))
        assert block.conv.weight.std().item() == pytest.approx(std, rel=0.25)
        assert block.bn.bias.abs().max() == 0 and (block.bn.weight - 1).abs().max() < 0.1
