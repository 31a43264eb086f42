"""Parameter groups (per-module LR / weight-decay multipliers, no decay on norm layers and
biases) and the optimizers a config can name."""
import pytest
import torch
from torch import nn

from engine.solver import OPTIMIZER_REGISTRY, build_lr_scheduler, build_optimizer
from engine.solver.solver import Solver
from engine.utils.errors import ConfigError
from yacs.config import CfgNode as CN


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.norm(self.features(x).mean((2, 3))))


def groups_by_param(optimizer):
    return {id(p): g for g in optimizer.param_groups for p in g["params"]}


def test_norm_layers_and_biases_get_their_own_weight_decay():
    net = Net()
    opt = build_optimizer(net, {"type": "SGD", "params": {"lr": 0.1, "weight_decay": 1e-3, "momentum": 0.9},
                                "weight_decay_norm": 0.0, "weight_decay_bias": 0.0})
    of = groups_by_param(opt)
    for module in (net.features[1], net.norm):  # BatchNorm and LayerNorm: weight and bias
        for p in module.parameters():
            assert of[id(p)]["weight_decay"] == 0.0
    assert of[id(net.features[0].bias)]["weight_decay"] == 0.0 and of[id(net.head.bias)]["weight_decay"] == 0.0
    assert of[id(net.features[0].weight)]["weight_decay"] == 1e-3 and of[id(net.head.weight)]["weight_decay"] == 1e-3
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(net.parameters()))
    assert all(g["momentum"] == 0.9 and g["lr"] == 0.1 for g in opt.param_groups)


def test_no_group_keys_keep_one_group_as_before():
    opt = build_optimizer(Net(), {"type": "AdamW", "params": {"lr": 0.1}})
    assert len(opt.param_groups) == 1 and "lr_mult" not in opt.param_groups[0]


def test_rules_multiply_lr_and_weight_decay_first_match_wins():
    net = Net()
    opt = build_optimizer(net, CN({"TYPE": "AdamW", "PARAMS": {"LR": 0.01, "WEIGHT_DECAY": 0.1},
                                   "PARAM_GROUPS": [{"PATTERN": r"features\.0\..*", "LR_MULT": 0.1},
                                                    {"pattern": "features.*", "lr_mult": 0.5,
                                                     "weight_decay_mult": 0.0}],
                                   "WEIGHT_DECAY_BIAS": 0.0}))
    of = groups_by_param(opt)
    conv, bn = net.features[0], net.features[1]
    assert of[id(conv.weight)]["lr"] == pytest.approx(0.001) and of[id(conv.weight)]["weight_decay"] == 0.1
    assert of[id(conv.bias)]["lr"] == pytest.approx(0.001) and of[id(conv.bias)]["weight_decay"] == 0.0
    assert of[id(bn.weight)]["lr"] == pytest.approx(0.005) and of[id(bn.weight)]["weight_decay"] == 0.0
    assert of[id(net.head.weight)]["lr"] == 0.01 and of[id(net.head.weight)]["weight_decay"] == 0.1


def test_multipliers_survive_the_lr_schedule_and_solver_reports_the_base_lr():
    net = Net()
    node = CN({"OPTIMIZER": {"TYPE": "SGD", "PARAMS": {"LR": 0.1},
                             "PARAM_GROUPS": [{"PATTERN": "head.*", "LR_MULT": 10.0}],
                             "CLIP_GRADIENTS": {"ENABLED": False}},
               "LR_SCHEDULER": {"ENABLED": True, "TYPE": "LRMultiplierScheduler", "PARAMS": {
                   "LR_SCHEDULER_PARAM": {"NAME": "WarmupCosineLR"}, "WARMUP_ITER": 4,
                   "WARMUP_FACTOR": 0.1}}})
    solver = Solver(net, node, max_iter=20)
    head = groups_by_param(solver.optimizer)[id(net.head.weight)]
    body = groups_by_param(solver.optimizer)[id(net.features[0].weight)]
    for i in range(20):
        factor = solver.lr_scheduler.factor_at(i)
        assert body["lr"] == pytest.approx(0.1 * factor) and head["lr"] == pytest.approx(1.0 * factor)
        assert solver.lr == pytest.approx(0.1 * factor)
        net(torch.randn(2, 1, 5, 5)).sum().backward()
        solver.step()
        solver.zero_grad()


def test_groups_are_logged_as_a_table(caplog):
    caplog.set_level("INFO")
    build_optimizer(Net(), {"type": "SGD", "params": {"lr": 0.1, "weight_decay": 1e-4},
                            "param_groups": [{"pattern": "head.*", "lr_mult": 2.0}],
                            "weight_decay_norm": 0.0}, where="solver.generator.optimizer")
    text = caplog.text
    assert "solver.generator.optimizer: SGD, 3 parameter group(s)" in text
    assert "group" in text and "weight_decay" in text and "head.* " in text and "default (norm)" in text


@pytest.mark.parametrize("rules, pattern", [
    ([{"pattern": "backbone.*", "lr_mult": 0.1}],
     r"param_groups\[0\] \(pattern 'backbone\.\*'\): it matches no trainable parameter.*"
     r"names look like \['features\.0\.weight', 'features\.0\.bias'"),
    ([{"pattern": "head.*"}, {"pattern": r"head\.weight"}],
     r"param_groups\[1\].*taken by an earlier rule"),
    ([{"pattern": "head", "lr": 0.1}], r"param_groups\[0\]: unknown keys \['lr'\]"),
    ([{"pattern": "(head"}], r"not a valid regular expression"),
    ([{"pattern": "head.*", "lr_mult": -1}], r"lr_mult must be a number >= 0"),
])
def test_bad_param_group_rule_is_one_clear_error(rules, pattern):
    with pytest.raises(ConfigError, match=pattern) as e:
        build_optimizer(Net(), {"type": "SGD", "params": {"lr": 0.1}, "param_groups": rules})
    assert str(e.value).startswith("solver.generator.optimizer.param_groups[")


@pytest.mark.parametrize("name, params, extra", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, {"momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "betas": [0.5, 0.99]}, {"betas": (0.5, 0.99)}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.05}, {"weight_decay": 0.05}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}, {"alpha": 0.9, "momentum": 0.5}),
])
def test_common_optimizers_train_like_torch_built_by_hand(name, params, extra):
    torch.manual_seed(0)
    a = nn.Linear(3, 2)
    b = nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    ours = build_optimizer(a, {"type": name, "params": params})
    theirs = getattr(torch.optim, name)(b.parameters(), **{**params, **extra})
    for key, value in extra.items():
        assert ours.param_groups[0][key] == value
    x = torch.randn(8, 3)
    for _ in range(3):
        for net, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


@pytest.mark.parametrize("name", OPTIMIZER_REGISTRY.registered_names())
def test_every_registered_optimizer_builds_and_steps(name):
    if name == "SparseAdam":
        pytest.skip("SparseAdam takes sparse gradients only")
    net = nn.Linear(3, 2, bias=name != "Muon")  # Muon takes 2-D parameters only
    opt = build_optimizer(net, {"type": name, "params": {"lr": 0.01}})
    before = net.weight.detach().clone()
    net(torch.randn(4, 3)).pow(2).mean().backward()
    opt.step()
    assert not torch.equal(before, net.weight)


def test_user_registered_optimizer_trains_through_a_solver_with_groups():
    @OPTIMIZER_REGISTRY.register()
    class TestOnlySignSGD(torch.optim.Optimizer):
        def __init__(self, params, lr=0.1, weight_decay=0.0):
            super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad.sign() + group["weight_decay"] * p, alpha=-group["lr"])

    net = nn.Linear(2, 1, bias=True)
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.bias.fill_(1.0)
    node = CN({"OPTIMIZER": {"TYPE": "TestOnlySignSGD", "PARAMS": {"LR": 0.5, "WEIGHT_DECAY": 0.1},
                             "WEIGHT_DECAY_BIAS": 0.0, "PARAM_GROUPS": [{"PATTERN": "bias", "LR_MULT": 0.2}]},
               "LR_SCHEDULER": {"ENABLED": False}})
    solver = Solver(net, node, max_iter=10)
    net(torch.ones(1, 2)).sum().backward()  # every gradient is positive
    solver.step()
    assert torch.allclose(net.weight, torch.full_like(net.weight, 1 - 0.5 * (1 + 0.1)))
    assert torch.allclose(net.bias, torch.full_like(net.bias, 1 - 0.1))


def test_schedulers_that_set_absolute_lrs_refuse_multipliers():
    opt = build_optimizer(Net(), {"type": "SGD", "params": {"lr": 0.1},
                                  "param_groups": [{"pattern": "head.*", "lr_mult": 10.0}]})
    with pytest.raises(ConfigError, match=r"OneCycleLR sets the same LR for every group.*lr_mult"):
        build_lr_scheduler(opt, {"type": "OneCycleLR", "params": {"max_lr": 1.0}}, 10)
