"""The non-finite guard (solver.skip_nonfinite_steps) and the refusal to checkpoint a
non-finite state. The stop-at-the-first-NaN default is tested in test_cli_errors.py."""
import json

import torch
from torch import nn

import codes  # noqa: F401
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.trainer.build import BUILD_TRAINER_REGISTRY
from engine.trainer.trainer import BaseTrainer

from fault_tolerance_helpers import DIGITS_PY, load, run_here


class _InfGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


@BUILD_NETWORK_REGISTRY.register()
class FaultyDigitsNet(nn.Module):
    """DigitsNet whose ``nan_at``-th training forwards (1-based) return NaN, and whose
    ``inf_grad_at``-th ones return a finite output with an infinite gradient."""

    def __init__(self, nan_at=(), inf_grad_at=(), **kwargs):
        super().__init__()
        self.net = BUILD_NETWORK_REGISTRY.get("DigitsNet")(**kwargs)
        self.nan_at, self.inf_grad_at, self.calls = set(nan_at), set(inf_grad_at), 0

    def forward(self, x):
        if not self.training:
            return self.net(x)
        self.calls += 1
        if self.calls in self.nan_at:
            x = x * float("nan")  # poisons BatchNorm's running statistics too
        out = self.net(x)
        return _InfGradient.apply(out) if self.calls in self.inf_grad_at else out


@BUILD_TRAINER_REGISTRY.register()
class StateRecordingTrainer(BaseTrainer):
    """Keeps a copy of the whole bundle state before every step."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.before = {}

    def iterate_before(self, epoch):
        self.before[self.iter] = clone(self.model.state_dict())


def clone(tree):
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: clone(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(clone(v) for v in tree)
    return tree


def argv(tmp_path, *extra):
    return ["--config-file", DIGITS_PY, "output_dir", str(tmp_path), "dataloader.num_workers", "0",
            "trainer.progress_bar", "False", "solver.max_iter", "8", "solver.checkpoint_period", "4",
            "trainer.log_period", "1", "solver.generator.lr_scheduler.params.warmup_iter", "2",
            "solver.test_per_batch", "512", *extra]


def records(tmp_path, kind):
    lines = (tmp_path / "digits" / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


def test_skipped_steps_change_no_weight_optimizer_ema_or_buffer_and_are_recorded(tmp_path, monkeypatch):
    trainers = []
    monkeypatch.setattr(StateRecordingTrainer, "after_loop", lambda self: trainers.append(self))
    code = run_here(argv(tmp_path, "solver.skip_nonfinite_steps", "2", "trainer.name", "StateRecordingTrainer",
                         "trainer.model.generator", "{'name': 'FaultyDigitsNet', 'nan_at': [3], 'inf_grad_at': [6]}"))
    assert code == 0
    trainer = trainers[0]
    assert [(r["iter"], r["reason"], r["nonfinite"], r["skipped_total"]) for r in records(tmp_path, "skip")] == [
        (3, "loss", ["cls"], 1), (6, "gradients", [], 2)]
    log = (tmp_path / "digits" / "log.txt").read_text()
    assert "iteration 3: non-finite loss (cls=nan): step skipped, 1 of solver.skip_nonfinite_steps=2 used" in log
    for skipped in (2, 5):  # steps 2 and 5 (0-based) are the 3rd and 6th forwards
        before, after = trainer.before[skipped], trainer.before[skipped + 1]
        schedule = before["g_solver"]["lr_scheduler"]["last_epoch"]
        assert after["g_solver"]["lr_scheduler"]["last_epoch"] == schedule + 1  # follows the iteration
        for part in ("g_model", "g_ema"):  # weights, BatchNorm statistics, EMA weights and count
            assert_equal(before[part], after[part], f"step {skipped}: {part}")
        assert_equal(before["g_solver"]["optimizer"]["state"], after["g_solver"]["optimizer"]["state"],
                     f"step {skipped}: optimizer state")  # Adam moments and step counts
    final = load(tmp_path / "digits" / "checkpoints" / "model_final.pth")
    assert final["trainer"]["nonfinite"] == {"skipped": 2}
    assert all(torch.isfinite(v).all() for v in final["model"]["g_model"].values() if v.is_floating_point())
    assert all("cls" in r and r["cls"] == r["cls"] for r in records(tmp_path, "train"))  # no NaN means


def assert_equal(a, b, where):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        for key in a:
            assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_one_non_finite_step_more_than_allowed_stops_with_the_count(tmp_path, capsys):
    code = run_here(argv(tmp_path, "solver.skip_nonfinite_steps", "1", "trainer.model.generator",
                         "{'name': 'FaultyDigitsNet', 'nan_at': [2, 5]}"))
    assert code == 2
    line = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error: ")]
    assert len(line) == 1 and "non-finite loss at iteration 5: cls=nan" in line[0]
    assert "1 non-finite step(s) already skipped" in line[0] and "skip_nonfinite_steps=1" in line[0]
    assert (tmp_path / "digits" / "checkpoints" / "last_checkpoint").read_text().strip() == "model_0000004.pth"


def test_negative_skip_count_is_refused(tmp_path, capsys):
    assert run_here(argv(tmp_path, "solver.skip_nonfinite_steps", "-1")) == 2
    assert "solver.skip_nonfinite_steps must be >= 0, got -1" in capsys.readouterr().err


@BUILD_TRAINER_REGISTRY.register()
class CorruptingTrainer(BaseTrainer):
    """Turns one weight NaN after step 5 (its loss was finite): the checkpoint at 6 must
    not be written."""

    def iterate_after(self, epoch, loss_dict):
        if self.iter == 5:
            with torch.no_grad():
                next(self.model.networks[0].parameters()).view(-1)[0] = float("nan")


def test_a_non_finite_state_is_never_written_over_a_good_checkpoint(tmp_path, capsys):
    code = run_here(argv(tmp_path, "trainer.name", "CorruptingTrainer", "solver.checkpoint_period", "2"))
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing to save checkpoint model_0000006.pth at iteration 6: model.g_model." in err
    assert "holds NaN or inf" in err and "newest: model_0000004.pth" in err
    ckpt = tmp_path / "digits" / "checkpoints"
    assert (ckpt / "last_checkpoint").read_text().strip() == "model_0000004.pth"
    assert sorted(p.name for p in ckpt.iterdir()) == ["last_checkpoint", "model_0000002.pth", "model_0000004.pth"]


def test_skipping_needs_a_train_iteration_with_before_step(tmp_path, capsys, monkeypatch):
    from codes.digits.model import DigitsClassifier
    from engine.model.base_model import BaseModel

    def old_style(self, micro_batches, *, epoch=None):
        return BaseModel.train_iteration(self, micro_batches, epoch=epoch)

    monkeypatch.setattr(DigitsClassifier, "train_iteration", old_style)
    assert run_here(argv(tmp_path, "solver.skip_nonfinite_steps", "3")) == 2
    assert "DigitsClassifier.train_iteration to take a before_step= argument" in capsys.readouterr().err
    # without skipping, such a bundle still trains, and still stops on NaN (after the step)
    assert run_here(argv(tmp_path / "b", "solver.max_iter", "2")) == 0
