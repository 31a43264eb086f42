"""Specification of invariant 2: augmentation randomness is a pure function of
(seed, epoch, sample index), so the batches do not depend on ``num_workers``, on whether
the run was resumed, or on anything else drawn from the global generators.

Uses the digits example (real data, random crop + colour jitter) through the same
``build_train_loader`` the trainer uses.
"""
import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import codes  # noqa: F401  (registers DigitsDataset)
from engine.config import load_cfg
from engine.data.build import build_dataset, build_train_loader
from engine.data.dataset import EngineDataSet
from engine.data.seeding import SeededSamples
from engine.transforms import RandomCrop
from engine.utils.errors import EngineError

CONFIG = str(Path(__file__).resolve().parents[2] / "codes" / "configs" / "digits.py")
CPU = torch.device("cpu")
N_BATCHES = 8


def digits_cfg(**overrides):
    """The digits example config with ``KEY=VALUE`` overrides (dots as '__')."""
    pairs = [x for k, v in overrides.items() for x in (k.replace("__", "."), str(v))]
    return load_cfg(CONFIG, pairs)


def first_batches(dataset, cfg, count, start_iter=0):
    loader, _ = build_train_loader(dataset, cfg, start_iter=start_iter, device=CPU)
    return list(itertools.islice(iter(loader), count))


def assert_bitwise_equal(a, b, where=""):
    """Same structure, dtypes, shapes and bytes (not merely allclose / ==)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_bitwise_equal(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        assert a.contiguous().numpy().tobytes() == b.contiguous().numpy().tobytes(), f"{where} differs"
    else:
        assert a == b, where


def global_rng_states():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def assert_same_global_rng_states(before, after):
    assert before[0] == after[0], "python `random` state changed"
    b, a = before[1], after[1]
    assert b[0] == a[0] and np.array_equal(b[1], a[1]) and b[2:] == a[2:], "np.random state changed"
    assert torch.equal(before[2], after[2]), "torch CPU RNG state changed"


class GlobalDrawingDataset(torch.utils.data.Dataset):
    """A user dataset that ignores ``sample_rng`` and draws from the global generators."""

    def __len__(self):
        return 40

    def __getitem__(self, index):
        return {
            "index": index,
            "python": random.random(),
            "numpy": float(np.random.rand()),
            "torch": torch.rand(3),
        }


class CountingDataset(torch.utils.data.Dataset):
    """Records every index it is asked to load."""

    def __init__(self, n):
        self.n, self.loaded = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        self.loaded.append(index)
        return index


@pytest.fixture(scope="module")
def train_set():
    cfg = digits_cfg()
    return build_dataset(cfg.DATALOADER.TRAIN_DATA_SET, "dataloader.train_data_set")


@pytest.fixture(scope="module")
def reference_batches(train_set):
    """The first batches loaded in the main process (num_workers=0)."""
    return first_batches(train_set, digits_cfg(dataloader__num_workers=0), N_BATCHES)


# --------------------------------------------------------------------------- workers


def test_the_digits_training_pipeline_is_random(train_set):
    # Guards the tests below against passing vacuously: the augmentation does vary.
    assert any(isinstance(t, RandomCrop) for t in train_set.pipeline)
    samples = SeededSamples(train_set, seed=0)
    variants = {samples[(epoch, 0)]["input_data"].numpy().tobytes() for epoch in range(8)}
    assert len(variants) > 1


@pytest.mark.parametrize("workers", [1, 2])
def test_first_batches_are_bitwise_identical_whatever_num_workers(train_set, reference_batches, workers):
    batches = first_batches(train_set, digits_cfg(dataloader__num_workers=workers), N_BATCHES)
    assert len(batches) == len(reference_batches) == N_BATCHES
    for i, (got, want) in enumerate(zip(batches, reference_batches)):
        assert_bitwise_equal(got, want, f"batch {i} with num_workers={workers}")


def test_global_rng_drawing_dataset_is_worker_count_invariant():
    cfg0 = digits_cfg(dataloader__num_workers=0, solver__train_per_batch=4)
    cfg2 = digits_cfg(dataloader__num_workers=2, solver__train_per_batch=4)
    main = first_batches(GlobalDrawingDataset(), cfg0, 6)
    workers = first_batches(GlobalDrawingDataset(), cfg2, 6)
    assert_bitwise_equal(workers, main, "batches")


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("accumulation", [1, 2])
@pytest.mark.parametrize("s", [1, 3])
def test_loader_started_at_s_equals_loader_from_0_after_s_steps(train_set, s, accumulation):
    cfg = digits_cfg(dataloader__num_workers=0, solver__gradient_accumulation_batch=accumulation)
    count = 3 * accumulation
    from_zero = first_batches(train_set, cfg, s * accumulation + count)
    resumed = first_batches(train_set, cfg, count, start_iter=s)
    for i, (got, want) in enumerate(zip(resumed, from_zero[s * accumulation:])):
        assert_bitwise_equal(got, want, f"micro-batch {i} after resuming at step {s}")


def test_loader_started_in_a_later_epoch_equals_the_uninterrupted_one(train_set):
    # 1438 training images / 32 per step: step 44 crosses into epoch 1
    cfg = digits_cfg(dataloader__num_workers=0)
    s = 44
    resumed = first_batches(train_set, cfg, 2, start_iter=s)
    _, sampler = build_train_loader(train_set, cfg, start_iter=0, device=CPU)
    keys = list(itertools.islice(iter(sampler), s + 2))[s:]
    assert {e for batch in keys for e, _ in batch} == {0, 1}
    samples = SeededSamples(train_set, int(cfg.SEED))
    for batch_keys, batch in zip(keys, resumed):
        want = torch.stack([samples[k]["input_data"] for k in batch_keys])
        assert_bitwise_equal(batch["input_data"], want)


def test_resumed_loader_loads_only_the_samples_it_yields():
    dataset = CountingDataset(50)
    cfg = digits_cfg(dataloader__num_workers=0, solver__train_per_batch=4)
    batches = first_batches(dataset, cfg, 2, start_iter=1000)
    assert sorted(dataset.loaded) == sorted(int(i) for b in batches for i in b)
    assert len(dataset.loaded) == 8


# --------------------------------------------------------------------------- global RNGs


def test_seeded_samples_leave_global_rng_states_unchanged(train_set):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    before = global_rng_states()
    for key in [(0, 0), (0, 5), (3, 17)]:
        SeededSamples(train_set, seed=42)[key]
        SeededSamples(GlobalDrawingDataset(), seed=42)[key]
    assert_same_global_rng_states(before, global_rng_states())


@pytest.mark.parametrize("dataset", ["digits", "global-drawing"])
def test_loading_in_the_main_process_leaves_global_rng_states_unchanged(train_set, dataset):
    ds = train_set if dataset == "digits" else GlobalDrawingDataset()
    cfg = digits_cfg(dataloader__num_workers=0, solver__train_per_batch=4)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    before = global_rng_states()
    first_batches(ds, cfg, 3)  # building the loader, creating its iterator, loading
    assert_same_global_rng_states(before, global_rng_states())


def test_global_rng_drawing_dataset_gives_the_same_sample_for_the_same_key():
    samples = SeededSamples(GlobalDrawingDataset(), seed=5)
    first = samples[(2, 7)]
    random.random(), np.random.rand(10), torch.rand(10)  # disturb the global generators
    samples[(0, 3)]  # load another sample in between
    torch.manual_seed(999), np.random.seed(999), random.seed(999)
    assert_bitwise_equal(samples[(2, 7)], first)
    assert_bitwise_equal(SeededSamples(GlobalDrawingDataset(), seed=5)[(2, 7)], first)


@pytest.mark.parametrize("other", [(5, 2, 8), (5, 3, 7), (6, 2, 7)], ids=["index", "epoch", "seed"])
def test_global_rng_drawing_dataset_differs_when_any_part_of_the_key_differs(other):
    seed, epoch, index = other
    a = SeededSamples(GlobalDrawingDataset(), seed=5)[(2, 7)]
    b = SeededSamples(GlobalDrawingDataset(), seed=seed)[(epoch, index)]
    for source in ("python", "numpy", "torch"):
        assert not np.array_equal(np.asarray(a[source]), np.asarray(b[source])), source


# ------------------------------------------------ datasets that declare uses_global_rng = False


class SeedingDigits(EngineDataSet):
    """The digits dataset with the default declaration: the global generators seeded."""

    uses_global_rng = True

    def __init__(self, train_set):
        super().__init__(train_set.transformers)
        self.inner = train_set

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        self.inner.sample_rng = self.sample_rng
        try:
            return self.inner[index]
        finally:
            self.inner.sample_rng = None


class DeclaredButDrawing(EngineDataSet):
    """Claims uses_global_rng = False, then draws from the global generator ``source``."""

    uses_global_rng = False

    def __init__(self, source, from_index=0):
        super().__init__()
        self.source, self.from_index = source, from_index

    def __len__(self):
        return 40

    def describe_sample(self, index):
        return f"record-{index}"

    def __getitem__(self, index):
        value = float(self.sample_rng.random())
        if index >= self.from_index:
            value += {"python": random.random, "numpy": np.random.rand,
                      "torch": lambda: float(torch.rand(1))}[self.source]()
        return {"value": value}


def test_the_digits_example_declares_it_draws_only_from_its_sample_rng(train_set):
    assert type(train_set).uses_global_rng is False
    assert EngineDataSet.uses_global_rng is True  # the default seeds the global generators


@pytest.mark.parametrize("workers", [0, 2])
def test_declaring_uses_global_rng_false_changes_no_byte_of_an_honest_dataset(train_set, reference_batches,
                                                                              workers):
    seeded = first_batches(SeedingDigits(train_set), digits_cfg(dataloader__num_workers=workers), N_BATCHES)
    assert_bitwise_equal(seeded, reference_batches, f"seeded digits, num_workers={workers}")


def test_a_declared_dataset_is_not_seeded_and_watched_on_its_first_batch_only(train_set, monkeypatch):
    import engine.data.seeding as seeding

    seeded, watched = [], []
    monkeypatch.setattr(seeding, "seed_global_rng", lambda s: seeded.append(s))
    monkeypatch.setattr(seeding.GlobalRngWatch, "states", staticmethod(
        lambda: watched.append(1) or seeding.global_rng_states()))
    samples = SeededSamples(train_set, seed=3)
    assert (samples.seeds_global_rng, samples.watching) == (False, True)
    samples.__getitems__([(0, 1), (0, 2)])
    samples.__getitems__([(0, 3), (0, 4)])
    assert samples.watching is False and seeded == [] and len(watched) == 4  # 2 states a sample, batch 1
    SeededSamples(SeedingDigits(train_set), seed=3).__getitems__([(0, 1), (0, 2)])
    assert len(seeded) == 2 and len(watched) == 4
    undeclared = SeededSamples(SeedingDigits(train_set), seed=3)
    assert (undeclared.seeds_global_rng, undeclared.watching) == (True, False)


@pytest.mark.parametrize("source, generator", [
    ("python", "python's random"), ("numpy", "numpy's np.random"), ("torch", "torch's CPU generator")])
def test_a_declared_dataset_drawing_from_a_global_generator_is_named_on_its_first_batch(source, generator):
    with pytest.raises(EngineError) as e:
        SeededSamples(DeclaredButDrawing(source), seed=0, where="dataloader.train_data_set").__getitems__(
            [(0, 4), (0, 5)])
    assert str(e.value).startswith(
        f"dataloader.train_data_set: DeclaredButDrawing sets uses_global_rng = False, but loading "
        f"sample 4 (record-4) drew from {generator}; draw from self.sample_rng")


def test_the_declaration_is_checked_in_every_worker_process():
    cfg = digits_cfg(dataloader__num_workers=2, solver__train_per_batch=4)
    with pytest.raises(Exception, match="sets uses_global_rng = False, but loading sample .* drew from numpy"):
        first_batches(DeclaredButDrawing("numpy"), cfg, 4)


def test_mixing_transforms_draw_only_from_the_sample_rng():
    class DeclaredMosaic(MosaicScenes):
        uses_global_rng = False

    cfg = digits_cfg(dataloader__num_workers=0, solver__train_per_batch=4)
    declared = first_batches(DeclaredMosaic(transformer=MOSAIC_PIPELINE), cfg, 3)
    assert_bitwise_equal(declared, first_batches(MosaicScenes(transformer=MOSAIC_PIPELINE), cfg, 3))


# --------------------------------------------------------------------------- keys


def test_same_key_gives_the_bitwise_same_augmented_sample(train_set):
    samples = SeededSamples(train_set, seed=42)
    first = samples[(1, 10)]
    for k in range(5):
        samples[(0, k)]  # other samples loaded in between change nothing
    assert_bitwise_equal(samples[(1, 10)], first)


def test_different_epochs_give_different_augmentations_of_the_same_index(train_set):
    samples = SeededSamples(train_set, seed=42)
    indices = range(16)
    differ = sum(
        not torch.equal(samples[(0, i)]["input_data"], samples[(1, i)]["input_data"]) for i in indices
    )
    # 9 crop offsets x jitter on/off: an occasional coincidence, never the rule
    assert differ >= 12, f"only {differ}/16 indices got a different augmentation in epoch 1"
    assert all(samples[(0, i)]["target_data"] == samples[(1, i)]["target_data"] for i in indices)


def test_different_seeds_give_different_augmentations_of_the_same_key(train_set):
    a, b = SeededSamples(train_set, seed=1), SeededSamples(train_set, seed=2)
    differ = sum(not torch.equal(a[(0, i)]["input_data"], b[(0, i)]["input_data"]) for i in range(16))
    assert differ >= 12


def test_outside_the_loader_the_dataset_is_left_without_a_sample_rng(train_set):
    SeededSamples(train_set, seed=0)[(0, 0)]
    assert train_set.sample_rng is None


# --------------------------------------------------------------------------- mixing transforms


class MosaicScenes(EngineDataSet):
    """Tiny scenes (one bright square each) for Mosaic + RandomAffine through the loader."""

    def __init__(self, size=12, transformer=None):
        super().__init__(transformer)
        self.size = size

    def __len__(self):
        return self.size

    def load_results(self, index):
        img = np.zeros((24, 32, 3), np.uint8)
        x, y = 2 + index % 5 * 4, 2 + index % 3 * 4
        img[y:y + 8, x:x + 8] = 40 + 15 * index
        return dict(img=img, bbox=np.array([[x, y, x + 8, y + 8]], np.float32),
                    labels=np.array([index]), bbox_label_fields=["labels"])

    def __getitem__(self, index):
        r = self.data_pipeline(self.load_results(index))
        return {"img": torch.from_numpy(r["img"]), "n_boxes": len(r["bbox"]),
                "labels": torch.from_numpy(np.resize(r["labels"], 8)),
                "boxes": torch.from_numpy(np.resize(r["bbox"], (8, 4)))}


MOSAIC_PIPELINE = [
    dict(name="MosaicTransform", max_size=32, n=4, p=0.8),
    dict(name="RandomAffine", max_rotate_degree=20, scaling_ratio_range=[0.8, 1.2], p=1.0),
    dict(name="Resize", target_size=[40, 40]),
]


def test_mosaic_and_affine_batches_are_worker_count_invariant_and_resume_exactly():
    ds = MosaicScenes(transformer=MOSAIC_PIPELINE)
    cfg0 = digits_cfg(dataloader__num_workers=0, solver__train_per_batch=4)
    cfg2 = digits_cfg(dataloader__num_workers=2, solver__train_per_batch=4)
    main = first_batches(ds, cfg0, 5)
    assert len({b["img"].numpy().tobytes() for b in main}) == 5
    assert max(int(b["n_boxes"].max()) for b in main) > 1  # mosaics were built
    assert_bitwise_equal(first_batches(ds, cfg2, 5), main, "mosaic batches, 2 workers")
    assert_bitwise_equal(first_batches(ds, cfg0, 2, start_iter=3), main[3:], "resumed at step 3")
