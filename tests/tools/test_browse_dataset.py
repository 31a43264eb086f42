"""engine-browse-dataset on the digits example: the grid shows the trainer's samples."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import codes  # noqa: F401  (registers DigitsDataset)
from engine.config import load_cfg
from engine.data.build import build_dataset, build_train_loader
from engine.data.seeding import SeededSamples
from engine.tools import browse_dataset as B
from unwritable_places import unwritable  # noqa: F401  (fixture)

CONFIG = str(Path(__file__).resolve().parents[2] / "codes" / "configs" / "digits.py")
NUM, COLS, TILE, PAD, EPOCH = 6, 3, 32, 4, 1


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("browse")
    rc = B.main(["--config-file", CONFIG, "--num", str(NUM), "--cols", str(COLS), "--epoch",
                 str(EPOCH), "--tile-size", str(TILE), "--output-dir", str(out),
                 "dataloader.num_workers", "0"])
    assert rc == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [f"train_epoch{EPOCH}_000000-000005.png"]
    return cv2.cvtColor(cv2.imread(str(pngs[0])), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def train_set():
    cfg = load_cfg(CONFIG, ["dataloader.num_workers", "0"])
    return cfg, build_dataset(cfg.DATALOADER.TRAIN_DATA_SET, "dataloader.train_data_set")


def test_grid_has_one_tile_per_sample(grid):
    rows = -(-NUM // COLS)
    assert grid.shape == (rows * TILE + (rows + 1) * PAD, COLS * TILE + (COLS + 1) * PAD, 3)


def test_each_tile_shows_the_trainers_augmented_sample(grid, train_set):
    cfg, ds = train_set
    samples = SeededSamples(ds, int(cfg.SEED))
    for i in range(NUM):
        r, c = divmod(i, COLS)
        tile = grid[PAD + r * (TILE + PAD):PAD + r * (TILE + PAD) + TILE,
                    PAD + c * (TILE + PAD):PAD + c * (TILE + PAD) + TILE, 0]
        x = samples[(EPOCH, i)]["input_data"][0].numpy()  # normalised 16 x 16
        want = np.round((x - x.min()) / (x.max() - x.min()) * 255).repeat(2, 0).repeat(2, 1)
        below_caption = slice(14, None)
        assert np.abs(tile[below_caption].astype(int) - want[below_caption]).max() <= 1, i
    # the epoch matters: epoch 0 draws other crops/jitter for most of these samples
    differ = sum(not torch.equal(samples[(0, i)]["input_data"], samples[(EPOCH, i)]["input_data"])
                 for i in range(NUM))
    assert differ >= NUM // 2


def test_loaded_samples_equal_the_training_loaders_batch(train_set):
    cfg, ds = train_set
    loader, sampler = build_train_loader(ds, cfg, start_iter=0, device=torch.device("cpu"))
    keys = next(iter(sampler))
    batch = next(iter(loader))
    epochs = {e for e, _ in keys}
    assert epochs == {0}
    loaded = B.load_samples(ds, int(cfg.SEED), 0, [i for _, i in keys])
    got = torch.stack([s["input_data"] for _, s in loaded])
    assert torch.equal(got, batch["input_data"])
    assert loaded[0][0] is not None and "img" in loaded[0][0]  # the pipeline's results dict
    assert not isinstance(ds.pipeline, B._Recorder)  # the dataset is given back unchanged


@pytest.mark.parametrize("argv, message", [
    (["--config-file", "missing.py"], "config file not found"),
    (["--config-file", CONFIG, "--split", "test"], "--split must be 'train' or 'val'"),
    (["--config-file", CONFIG, "--num", "0"], "--num must be >= 1"),
])
def test_bad_input_is_one_error_line_and_exit_2(argv, message, capsys, tmp_path):
    assert B.main(argv + ["--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not list(tmp_path.iterdir())


def test_masks_boxes_and_points_are_drawn():
    img = np.zeros((20, 20, 3), np.uint8)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 2
    results = dict(img=img, mask=mask, bbox=np.array([[5, 5, 15, 15]], np.float32), labels=[4],
                   bbox_label_fields=["labels"], pts=np.array([[10, 10]], np.float32))
    tile = B.render(results, {}, "x", tile_size=40)
    assert tile.shape == (40, 40, 3)
    assert tuple(tile[24, 10]) == B.V.color_of(4)  # the box's left edge (x=10 after 2x)
    assert tile[16, 16].any() and not tile[36, 36].any()  # mask overlay inside only
    assert tuple(tile[20, 20]) == B.V.color_of(0)  # the point


def test_val_split_uses_epoch_zero(tmp_path):
    (path,) = B.browse(CONFIG, split="val", num=2, epoch=5, tile_size=16, output_dir=str(tmp_path),
                       overrides=["dataloader.num_workers", "0"])
    assert Path(path).name == "val_epoch0_000000-000001.png" and Path(path).is_file()


@pytest.mark.parametrize("place", ["under a file", "read-only"])
def test_unwritable_output_dir_is_one_error_line(place, unwritable, capsys):  # noqa: F811
    assert B.main(["--config-file", CONFIG, "--num", "2", "--output-dir", unwritable[place],
                   "dataloader.num_workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot ") and "set --output-dir " in err[0]
