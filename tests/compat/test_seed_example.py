"""The seed's own example (MyModel / MyTrainer / MyDataset + its config) runs as written."""
import json
import os

import cv2
import numpy as np
import pytest
from sklearn.datasets import load_digits

from engine.schedule.scheduler import BaseScheduler

from conftest import ROOT

SEED_CONFIG = os.path.join(ROOT, "tests", "seed_project", "config.py")


@pytest.fixture
def digit_pngs(tmp_path, monkeypatch):
    """40 real digit images as 32x32 colour PNGs named <label>_<n>.png."""
    folder = tmp_path / "images"
    folder.mkdir()
    digits = load_digits()
    for n in range(40):
        img = (digits.images[n] * 255 / 16).astype(np.uint8)
        img = cv2.resize(img, (32, 32), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(folder / f"{digits.target[n]}_{n}.png"), cv2.merge([img, img, img]))
    monkeypatch.setenv("SEED_EXAMPLE_IMAGES", str(folder))
    return folder


def test_seed_example_trains_through_the_scheduler(digit_pngs, tmp_path):
    import tests.seed_project  # noqa: F401  (step 4: import the user's modules)

    trainer = BaseScheduler().schedule([
        "--config-file", SEED_CONFIG, "output_dir", str(tmp_path / "out"),
        "solver.max_iter", "6", "solver.checkpoint_period", "3", "dataloader.num_workers", "0",
        "trainer.progress_bar", "False", "trainer.log_period", "2",
    ])
    assert type(trainer).__name__ == "MyTrainer" and trainer.loop_finished
    assert type(trainer.model).__name__ == "MyModel"
    assert [epoch for epoch, _ in trainer.seen_epochs] == [0, 1, 2, 3, 4, 5]  # the seed's: iteration index
    epoch, losses = trainer.seen_epochs[-1]
    assert set(losses) == {"loss1", "loss2"}
    assert losses["loss1"] == pytest.approx(10 * losses["loss2"], rel=1e-5)

    run_dir = tmp_path / "out" / "my-log"
    assert sorted(os.listdir(run_dir / "checkpoints")) == [
        "last_checkpoint", "model_0000003.pth", "model_final.pth"]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(r["type"] == "eval" and "val_loss1" in r for r in records)
