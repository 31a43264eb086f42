"""--resume continues from the last complete checkpoint (the full kill/SIGTERM guarantees
are tested with the fault-tolerance work; these check the mechanism end to end)."""
import shutil

import torch

import codes  # noqa: F401
from engine.schedule.scheduler import BaseScheduler

from conftest import DIGITS_PY


def run(out, *extra):
    return BaseScheduler().schedule([
        "--config-file", DIGITS_PY, "output_dir", str(out), "dataloader.num_workers", "0",
        "trainer.progress_bar", "False", "solver.checkpoint_period", "10", "solver.eval_period", "0",
        "solver.generator.lr_scheduler.params.warmup_iter", "5", *extra])


def final_state(out):
    return torch.load(out / "digits" / "checkpoints" / "model_final.pth", weights_only=True)["model"]


def assert_bitwise_equal(a, b, path="model"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_bitwise_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def test_resume_from_a_periodic_checkpoint_ends_bitwise_equal(tmp_path):
    run(tmp_path / "straight", "solver.max_iter", "30")
    # the same run "interrupted" after iteration 10: a copy of its run directory in which
    # only the first checkpoint survives
    partial = tmp_path / "resumed"
    shutil.copytree(tmp_path / "straight", partial)
    ckpt = partial / "digits" / "checkpoints"
    for name in ("model_final.pth", "model_0000020.pth"):
        (ckpt / name).unlink()
    (ckpt / "last_checkpoint").write_text("model_0000010.pth\n")
    trainer = run(partial, "--resume", "solver.max_iter", "30")
    assert trainer.start_iter == 10
    assert_bitwise_equal(final_state(tmp_path / "straight"), final_state(partial))


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    trainer = run(tmp_path, "--resume", "solver.max_iter", "5")
    assert trainer.start_iter == 0
    assert torch.load(tmp_path / "digits" / "checkpoints" / "model_final.pth",
                      weights_only=True)["iteration"] == 5
