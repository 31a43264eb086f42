"""BaseGanModel: named discriminators with their own solvers, the D/G step order,
g_step, accumulation, AMP, the checkpoint, and the digits GAN example end to end."""
import json
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import codes  # noqa: F401  (registers the examples)
from engine.config.loader import load_cfg
from engine.model.build import BUILD_MODEL_REGISTRY, BUILD_NETWORK_REGISTRY, build_model
from engine.model.gan_model import BaseGanModel
from engine.schedule.scheduler import BaseScheduler
from engine.utils.errors import ConfigError, EngineError

from conftest import ROOT
from fault_tolerance_helpers import tensor_differences
from test_model_wrapping import CountingWrapper

GAN_PY = os.path.join(ROOT, "codes", "configs", "digits_gan.py")


@BUILD_NETWORK_REGISTRY.register()
class GanTestG(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, z):
        return self.fc(z)


@BUILD_NETWORK_REGISTRY.register()
class GanTestD(nn.Module):
    def __init__(self, hidden=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).view(-1)


def grad_flags(module):
    return any(p.requires_grad for p in module.parameters())


@BUILD_MODEL_REGISTRY.register()
class GanTestModel(BaseGanModel):
    """Latents come with the data, so a step is a pure function of its batch."""
    trace = []

    def dmodel_step(self, data, *, epoch=None):
        fake = self.g_model(data["z"])
        self.trace.append(("d", type(self.g_model).__name__, grad_flags(self.g_model), fake.requires_grad,
                           [grad_flags(d) for d in self.d_models.values()], torch.is_autocast_enabled("cpu")))
        return {f"d_{name}": F.softplus(-d(data["real"])).mean() + F.softplus(d(fake)).mean()
                for name, d in self.d_models.items()}

    def gmodel_step(self, data, *, epoch=None):
        fake = self.g_model(data["z"])
        self.trace.append(("g", [type(d).__name__ for d in self.d_models.values()], grad_flags(self.g_model),
                           [grad_flags(d) for d in self.d_models.values()], torch.is_autocast_enabled("cpu")))
        return sum(F.softplus(-d(fake)).mean() for d in self.d_models.values())

    def generator(self, data):
        return self.g_model(data)


CONFIG = """
trainer = dict(device="cpu", model=dict(
    name="GanTestModel", generator=dict(name="GanTestG"), g_step=2, ema=dict(enable=True, decay_rate=0.5),
    discriminator=dict(patch=dict(name="GanTestD"), full=dict(name="GanTestD", hidden=8))))
solver = dict(max_iter=20,
    generator=dict(optimizer=dict(type="SGD", params=dict(lr=0.1))),
    discriminator=dict(
        optimizer=dict(type="SGD", params=dict(lr=0.05)),        # shared: 'patch' uses it
        full=dict(optimizer=dict(type="Adam", params=dict(lr=0.01)),
                  lr_scheduler=dict(enabled=True, type="LRMultiplierScheduler",
                                    params=dict(lr_scheduler_param=dict(name="WarmupCosineLR"))))))
"""


def gan(tmp_path, *overrides, text=CONFIG):
    path = tmp_path / "gan_cfg.py"
    path.write_text(text)
    torch.manual_seed(0)
    return build_model(load_cfg(str(path), list(overrides)))


def data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"real": torch.randn(n, 4, generator=g) + 2.0, "z": torch.randn(n, 3, generator=g)}


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_each_discriminator_has_its_own_network_solver_and_checkpointed_state(tmp_path):
    model = gan(tmp_path)
    assert list(model.d_models) == ["patch", "full"] and model.d_models["full"].net[0].out_features == 8
    patch, full = model.d_solvers["patch"], model.d_solvers["full"]
    assert type(patch.optimizer) is torch.optim.SGD and patch.lr == 0.05 and patch.lr_scheduler is None
    assert type(full.optimizer) is torch.optim.Adam and full.lr == 0.01 and full.lr_scheduler is not None
    assert list(model.state_dict()) == ["g_model", "g_solver", "g_ema", "d_models.patch", "d_solvers.patch",
                                        "d_models.full", "d_solvers.full", "gan_state"]
    assert set(model.log_values()) == {"lr_patch", "lr_full"}
    with pytest.raises(AttributeError, match=r"2 discriminators \['patch', 'full'\]"):
        model.d_model


def test_d_step_then_g_step_every_g_step_with_gradients_only_on_the_trained_network(tmp_path):
    model = gan(tmp_path)
    GanTestModel.trace.clear()
    g, ds = params(model.g_model), [params(d) for d in model.d_models.values()]
    g_changed = []
    for i in range(4):
        losses = model.train_iteration([data(seed=i)])
        new_g, new_ds = params(model.g_model), [params(d) for d in model.d_models.values()]
        g_changed.append(not same(g, new_g))
        assert all(not same(a, b) for a, b in zip(ds, new_ds))  # D trains every iteration
        assert set(losses) == ({"d_patch", "d_full", "g_loss"} if i % 2 else {"d_patch", "d_full"})
        g, ds = new_g, new_ds
    assert g_changed == [False, True, False, True]  # g_step=2
    d_phase, g_phase = ("d", "GanTestG", False, False, [True, True], False), \
        ("g", ["GanTestD", "GanTestD"], True, [False, False], False)
    assert GanTestModel.trace == [d_phase, d_phase, g_phase, d_phase, d_phase, g_phase]
    assert all(p.requires_grad for net in model.networks for p in net.parameters())
    # every schedule follows the iterations; EMA follows the generator's steps
    assert model.d_solvers["full"].lr_scheduler.last_epoch == 4 and model.g_ema.num_steps == 2
    assert model.state_dict()["gan_state"] == {"iteration": 4}


def test_accumulated_micro_batches_train_like_one_batch(tmp_path):
    one, acc = gan(tmp_path, "trainer.model.g_step", "1"), gan(tmp_path, "trainer.model.g_step", "1")
    for i in range(3):
        whole = data(n=8, seed=i)
        halves = [{k: v[:4] for k, v in whole.items()}, {k: v[4:] for k, v in whole.items()}]
        one.train_iteration([whole])
        acc.train_iteration(halves)
    for a, b in zip(one.state_dict().values(), acc.state_dict().values()):
        if isinstance(a, dict) and all(isinstance(v, torch.Tensor) for v in a.values()):
            assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_bf16_autocast_in_both_phases(tmp_path):
    model = gan(tmp_path, "solver.amp.enabled", "True", "trainer.model.g_step", "1")
    GanTestModel.trace.clear()
    model.train_iteration([data()])
    assert [t[-1] for t in GanTestModel.trace] == [True, True]


def test_a_veto_before_the_d_step_skips_the_whole_iteration_but_schedules_advance(tmp_path):
    model = gan(tmp_path, "trainer.model.g_step", "1")
    before = [params(n) for n in model.networks]
    asked = []
    model.train_iteration([data()], before_step=lambda losses: asked.append(sorted(losses)) or False)
    assert asked == [["d_full", "d_patch"]]  # asked once: the G step is skipped with it
    assert all(same(a, params(n)) for a, n in zip(before, model.networks))
    assert model.d_solvers["full"].lr_scheduler.last_epoch == 1
    assert all(p.grad is None for n in model.networks for p in n.parameters())


def test_ddp_wrappers_run_only_for_the_network_being_trained(tmp_path):
    model = gan(tmp_path, "trainer.model.g_step", "1")
    model.wrap_networks(lambda name, net: CountingWrapper(net))
    GanTestModel.trace.clear()
    model.train_iteration([data(), data(seed=1)])  # two micro-batches
    unwrapped_d = ["GanTestD", "GanTestD"]  # D phase: G unwrapped; G phase: every D unwrapped
    assert [t[1] for t in GanTestModel.trace] == ["GanTestG", "GanTestG", unwrapped_d, unwrapped_d]
    assert model.g_model.forward_calls == 2 and model.g_model.no_sync_calls == 1
    assert all(d.no_sync_calls == 1 and d.forward_calls == 4 for d in model.d_models.values())
    assert set(model.state_dict()["d_models.full"]) == set(model.unwrapped("d_models.full").state_dict())


@pytest.mark.parametrize("edit, pattern", [
    (("full=dict(optimizer", "fulll=dict(optimizer"),
     r"solver\.discriminator\.fulll: there is no discriminator named 'fulll' in trainer\.model\.discriminator "
     r"\(its discriminators: \['patch', 'full'\]\)"),
    (('optimizer=dict(type="SGD", params=dict(lr=0.05)),        # shared', "#"),
     r"solver\.discriminator has sections for \['full'\] but none for \['patch'\]"),
    (('discriminator=dict(patch=dict(name="GanTestD"), full=dict(name="GanTestD", hidden=8))', "discriminator={}"),
     r"trainer\.model\.discriminator is not set: a GAN model needs at least one discriminator"),
    (("g_step=2", "g_step=0"), r"trainer\.model\.g_step must be (an integer )?>= 1, got 0"),
    (('type="Adam", params=dict(lr=0.01)', 'type="Adam", params=dict(lr=0.01), momentum=1'),
     r"unknown config key 'solver\.discriminator\.full\.optimizer\.momentum'"),
])
def test_bad_gan_config_is_one_clear_error(tmp_path, edit, pattern):
    assert edit[0] in CONFIG
    with pytest.raises(ConfigError, match=pattern):
        gan(tmp_path, text=CONFIG.replace(*edit))


def test_d_and_g_loss_names_must_differ(tmp_path):
    model = gan(tmp_path, "trainer.model.g_step", "1")
    model.gmodel_step = lambda data, epoch=None: {"d_full": torch.zeros((), requires_grad=True)}
    model.gmodel_step.__name__ = "gmodel_step"
    with pytest.raises(EngineError, match=r"dmodel_step and gmodel_step both return the loss term\(s\) \['d_full'\]"):
        model.train_iteration([data()])


# --------------------------------------------------------------- the digits GAN
def test_digits_gan_example_trains_and_resumes_bitwise(tmp_path):
    """The digits GAN example as train.py runs it (in this process: the scheduler on the
    command line's arguments, the config's own loader workers), then resumed from its
    iteration-10 checkpoint without workers."""
    out = tmp_path / "run"
    args = ["--config-file", GAN_PY, "output_dir", str(out), "trainer.progress_bar", "False",
            "solver.max_iter", "20", "solver.checkpoint_period", "10", "solver.eval_period", "10",
            "trainer.log_period", "5", "trainer.model.g_step", "2",
            "solver.generator.lr_scheduler.params.warmup_iter", "5",
            "solver.discriminator.lr_scheduler.params.warmup_iter", "5"]
    BaseScheduler().schedule(args)  # SystemExit (a failed run) fails the test
    run_dir = out / "digits_gan"

    log = (run_dir / "log.txt").read_text()
    assert "iter: 20/20" in log and "d_real:" in log and "g_adv:" in log and "lr_d:" in log
    assert "solver.discriminator.optimizer: Adam" in log and "digit_score=" in log
    records = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    train = [r for r in records if r["type"] == "train"]
    assert [r["iter"] for r in train] == [5, 10, 15, 20]
    assert all({"d_real", "d_fake", "g_adv", "lr", "lr_d"} <= set(r) for r in train)
    evals = [r for r in records if r["type"] == "eval"]
    assert [r["iter"] for r in evals] == [10, 20] and 1.0 <= evals[-1]["digit_score"] <= 10.0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert {"train/d_real", "train/g_adv", "train/lr", "train/lr_d", "eval/digit_score"} <= set(events.Tags()["scalars"])

    ckpt = run_dir / "checkpoints"
    final = torch.load(ckpt / "model_final.pth", weights_only=True)["model"]
    assert list(final) == ["g_model", "g_solver", "g_ema", "d_models.d", "d_solvers.d", "gan_state"]
    for solver in ("g_solver", "d_solvers.d"):
        assert final[solver]["optimizer"]["state"] and final[solver]["lr_scheduler"]["last_epoch"] == 20
    assert int(final["g_ema"]["n_averaged"]) == 10 and final["g_ema"]["_extra_state"] == {"num_steps": 10}
    assert final["gan_state"] == {"iteration": 20}

    # "killed" after iteration 10: resume from its checkpoint, end bitwise equal
    (ckpt / "model_final.pth").unlink()
    (ckpt / "last_checkpoint").write_text("model_0000010.pth\n")
    trainer = BaseScheduler().schedule(args + ["--resume", "dataloader.num_workers", "0"])
    assert trainer.start_iter == 10
    assert not tensor_differences(final, torch.load(ckpt / "model_final.pth", weights_only=True)["model"], "model")
