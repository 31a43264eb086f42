"""Every LR schedule shape x every warmup kind against a reference built independently:
torch's own scheduler (torch.optim.lr_scheduler.*) stepped in parallel gives the shape,
the warmup is the documented closed form on top of it."""
import math

import pytest
import torch

from engine.solver import build_lr_scheduler

BASE_LR, MAX_ITER, WARMUP, FACTOR = 0.1, 40, 8, 0.05


def sgd(lr=BASE_LR):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def stepped(scheduler, n):
    """The LR of iterations 0..n-1, stepping like the trainer (optimizer, then schedule)."""
    out = []
    for _ in range(n):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def torch_one_cycle(opt, pct_start, div_factor, final_div_factor):
    # ours ends its phases at iterations pct*MAX_ITER and MAX_ITER, torch's one earlier
    total = MAX_ITER + 1
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=BASE_LR, total_steps=total, pct_start=(pct_start * MAX_ITER + 1) / total,
        div_factor=div_factor, final_div_factor=final_div_factor, anneal_strategy="cos",
        cycle_momentum=False)


SHAPES = {
    "multistep": ({"name": "WarmupMultiStepLR", "steps": [5, 20, 30], "gamma": 0.5},
                  lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [5, 20, 30], gamma=0.5)),
    "step": ({"name": "WarmupStepLR", "step_size": 7, "gamma": 0.3},
             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.3)),
    "cosine": ({"name": "WarmupCosineLR", "end_value": 0.1},
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=MAX_ITER, eta_min=BASE_LR * 0.1)),
    "poly": ({"name": "WarmupPolyLR", "power": 2.0},
             lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=MAX_ITER, power=2.0)),
    "exponential": ({"name": "WarmupExponentialLR", "gamma": 0.93},
                    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.93)),
    "exponential_decay": ({"name": "WarmupExponentialLR", "decay": 0.01},
                          lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.01 ** (1 / MAX_ITER))),
    "one_cycle": ({"name": "OneCycleLR", "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0},
                  lambda o: torch_one_cycle(o, 0.25, 10.0, 100.0)),
    "constant": ({"name": "WarmupConstantLR"},
                 lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda i: 1.0)),
}


def reference(shape_lrs, warmup):
    if warmup == "none":
        return list(shape_lrs)
    start = FACTOR * shape_lrs[0]
    ramp = [start + (shape_lrs[WARMUP] - start) * i / WARMUP if warmup == "linear" else start
            for i in range(WARMUP)]
    return ramp + list(shape_lrs[WARMUP:])


@pytest.mark.parametrize("warmup", ["none", "linear", "constant"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_schedule_with_warmup_matches_reference(shape, warmup):
    shape_cfg, torch_scheduler = SHAPES[shape]
    params = {"lr_scheduler_param": dict(shape_cfg)}
    if warmup != "none":
        params.update(warmup_iter=WARMUP, warmup_factor=FACTOR, warmup_method=warmup)
    ours = stepped(build_lr_scheduler(sgd(), {"enabled": True, "type": "LRMultiplierScheduler",
                                              "params": params}, MAX_ITER), MAX_ITER + 1)
    shape_lrs = stepped(torch_scheduler(sgd()), MAX_ITER + 1)
    assert ours == pytest.approx(reference(shape_lrs, warmup), rel=1e-9, abs=1e-15)
    if warmup != "none":  # the ramp starts at warmup_factor x the shape's first value
        assert ours[0] == pytest.approx(FACTOR * shape_lrs[0])


def test_warmup_ramp_values_for_a_step_shape_are_detectron2s():
    """detectron2's WarmupMultiStepLR: factor * (1 - i/w) + i/w during warmup."""
    params = {"lr_scheduler_param": {"name": "WarmupMultiStepLR", "steps": [30]},
              "warmup_iter": WARMUP, "warmup_factor": FACTOR, "warmup_method": "linear"}
    ours = stepped(build_lr_scheduler(sgd(), {"type": "LRMultiplierScheduler", "params": params},
                                      MAX_ITER), WARMUP + 1)
    assert ours == pytest.approx([BASE_LR * (FACTOR * (1 - i / WARMUP) + i / WARMUP)
                                  for i in range(WARMUP + 1)])
    assert math.isclose(ours[-1], BASE_LR)
