"""Specification of composition (OneOf / SomeOf / RandomApply), the seed's aliases
(TransformCompose, BUILD_TRANSFORMER_REGISTRY, BasicColorTransform with get_params) and
worker-count invariance of a pipeline with the colour transforms on."""
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import load_cfg
from engine.data.build import build_train_loader
from engine.data.dataset import EngineDataSet
from engine.transforms import TRANSFORM_REGISTRY, build_transforms
from engine.transforms import functional as F
from engine.transforms.build import BUILD_TRANSFORMER_REGISTRY
from engine.transforms.pipe import TransformCompose
from engine.transforms.transforms import BasicColorTransform, RandomBrightness
from engine.utils.errors import ConfigError

CONFIG = str(Path(__file__).resolve().parents[2] / "codes" / "configs" / "digits.py")


def image(seed=0, shape=(12, 16, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


class Mark:
    """Appends its tag to results['log'] (to see what ran, and in which order)."""

    def __init__(self, tag):
        self.tag = tag

    def __call__(self, results, rng):
        results.setdefault("log", []).append(self.tag)
        return results


@pytest.fixture(autouse=True, scope="module")
def mark_registered():
    if "Mark" not in TRANSFORM_REGISTRY:
        TRANSFORM_REGISTRY.register(Mark)
    yield


def marks(tags):
    return [dict(name="Mark", tag=t) for t in tags]


def logs(pipeline, seeds=range(200)):
    return [tuple(pipeline(dict(img=image()), np.random.default_rng(s)).get("log", ()))
            for s in seeds]


# ---------------------------------------------------------------- composition


def test_one_of_applies_exactly_one_uniformly_or_by_weight():
    counts = Counter(logs(build_transforms([dict(name="OneOf", transforms=marks("abc"))])))
    assert set(counts) == {("a",), ("b",), ("c",)} and min(counts.values()) > 40
    weighted = build_transforms([dict(name="OneOf", transforms=marks("ab"), weights=[1, 0])])
    assert set(logs(weighted)) == {("a",)}


def test_one_of_p_skips_the_whole_choice():
    counts = Counter(logs(build_transforms([dict(name="OneOf", transforms=marks("ab"), p=0.25)])))
    assert 120 < counts[()] < 180  # about 150 of 200 skipped


def test_some_of_applies_n_distinct_in_listed_order():
    out = logs(build_transforms([dict(name="SomeOf", transforms=marks("abcd"), n=2)]))
    assert all(len(o) == 2 and len(set(o)) == 2 and list(o) == sorted(o) for o in out)
    assert len(set(out)) == 6  # every pair comes up
    ranged = logs(build_transforms([dict(name="SomeOf", transforms=marks("abc"), n=[0, 3])]))
    assert {len(o) for o in ranged} == {0, 1, 2, 3}


def test_random_apply_runs_all_or_nothing():
    out = Counter(logs(build_transforms([dict(name="RandomApply", transforms=marks("ab"), p=0.5)])))
    assert set(out) == {(), ("a", "b")} and min(out.values()) > 60


def test_compositions_are_seeded_and_nest():
    cfg = [dict(name="RandomApply", p=0.7, transforms=[
        dict(name="OneOf", transforms=[dict(name="RandomBrightness", p=1.0),
                                       dict(name="RandomGamma", p=1.0)]),
        dict(name="SomeOf", n=1, transforms=[dict(name="ToGray"), dict(name="RandomHue", p=1)]),
    ])]
    pipe = build_transforms(cfg)
    a = [pipe(dict(img=image()), np.random.default_rng(s))["img"] for s in range(6)]
    b = [pipe(dict(img=image()), np.random.default_rng(s))["img"] for s in range(6)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len({x.tobytes() for x in a}) > 2


@pytest.mark.parametrize("entry, pattern", [
    (dict(name="OneOf", transforms=[]), r"transformer\[0\]: OneOf: transforms must be a non-empty"),
    (dict(name="OneOf", transforms=[dict(name="RandomBrightness"), dict(name="RandomBrightnes")]),
     r"transformer\[0\]: OneOf.transforms\[1\].*RandomBrightnes"),
    (dict(name="OneOf", transforms=marks("ab"), weights=[1]), r"weights must be 2 non-negative"),
    (dict(name="SomeOf", transforms=marks("ab"), n=3), r"n must be .*at most 2"),
    (dict(name="RandomApply", transforms=[dict(name="RandomHue", p=3)]),
     r"transformer\[0\]: RandomApply.transforms\[0\]: RandomHue: p must be"),
])
def test_bad_composition_config_names_the_entry(entry, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_transforms([entry])


# ---------------------------------------------------------------- the seed's aliases


class DocCustomAug(BasicColorTransform):
    """data_aug.md's example, as written there (global ``random`` in get_params)."""

    def __init__(self, param=(0.2, 0.5), p=0.5):
        super(DocCustomAug, self).__init__(p, )
        self.param = param

    def apply(self, img: np.ndarray, **params) -> np.ndarray:
        return F.adjust_brightness(img, params['factor'])

    def get_params(self, kwargs):
        return {"factor": random.uniform(self.param[0], self.param[1])}


def test_seed_registry_is_ours_and_custom_aug_builds_by_name():
    assert BUILD_TRANSFORMER_REGISTRY is TRANSFORM_REGISTRY
    if "DocCustomAug" not in BUILD_TRANSFORMER_REGISTRY:
        BUILD_TRANSFORMER_REGISTRY.register(DocCustomAug)
    t = TransformCompose([dict(name="DocCustomAug", param=(0.5, 0.5), p=1.0)])
    out = t(dict(img=np.full((2, 2, 3), 100, np.uint8), color_fields=["img"]))
    assert out["img"].max() == 50


def test_get_params_draws_are_seeded_from_the_rng_whatever_the_global_state():
    t = DocCustomAug(p=1.0)
    outs = []
    for global_seed, s in ((1, 5), (2, 5), (3, 6)):
        random.seed(global_seed)
        np.random.seed(global_seed)
        outs.append(t(dict(img=image()), np.random.default_rng(s))["img"])
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])


def test_transform_compose_without_rng_is_seeded_by_the_global_numpy_generator():
    t = TransformCompose([dict(name="RandomColorJitter", brightness_p=1, hue_p=1),
                          dict(name="RandomBrightness", p=1.0)])
    np.random.seed(11)
    a = t(dict(img=image()))["img"]
    np.random.seed(11)
    b = t(dict(img=image()))["img"]
    c = t(dict(img=image()))["img"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert isinstance(RandomBrightness(), BasicColorTransform)


def test_transform_compose_errors_name_the_entry():
    with pytest.raises(ConfigError, match=r"TransformCompose\[1\]: RandomCompress"):
        TransformCompose([dict(name="ToGray"), dict(name="RandomCompress", quality_step=0)])


# ---------------------------------------------------------------- worker-count invariance

COLOUR_PIPELINE = [
    dict(name="RandomColorJitter", brightness_p=0.5, contrast_p=0.5, saturation_p=0.5,
         hue_p=0.5, blur_p=0.5, gamma_p=0.5, clahe_p=0.5),
    dict(name="OneOf", transforms=[dict(name="RandomCompress", quality_lower=20, p=1),
                                   dict(name="RandomSharpen", p=1),
                                   dict(name="RandomToneCurve", p=1)]),
    dict(name="SomeOf", n=[0, 2], transforms=[
        dict(name="RandomBrightnessContrast", p=1), dict(name="RandomGaussianNoise", p=1),
        dict(name="ToGray", p=1)]),
]


class ColourSet(EngineDataSet):
    def __len__(self):
        return 16

    def __getitem__(self, index):
        r = self.data_pipeline(dict(img=image(index, (16, 16, 3))))
        return {"img": torch.from_numpy(r["img"])}  # engine datasets give dict samples


class SeedStyleSet(torch.utils.data.Dataset):
    """A dataset written as in the seed: it keeps a TransformCompose and calls it."""

    def __init__(self):
        self.transformer = TransformCompose(COLOUR_PIPELINE + [
            dict(name="RandomGamma", p=0.5), dict(name="RandomHue", p=0.5)])

    def __len__(self):
        return 16

    def __getitem__(self, index):
        r = self.transformer(dict(img=image(index, (16, 16, 3)), color_fields=["img"]))
        return {"img": torch.from_numpy(r["img"])}


def batches(dataset, workers):
    cfg = load_cfg(CONFIG, ["dataloader.num_workers", str(workers),
                            "solver.train_per_batch", "4"])
    loader, _ = build_train_loader(dataset, cfg, start_iter=0, device=torch.device("cpu"))
    it = iter(loader)
    return [next(it)["img"].numpy().tobytes() for _ in range(4)]


@pytest.mark.parametrize("make", [lambda: ColourSet(COLOUR_PIPELINE), SeedStyleSet],
                         ids=["EngineDataSet", "seed-style TransformCompose"])
def test_colour_batches_do_not_depend_on_num_workers(make):
    dataset = make()
    main = batches(dataset, 0)
    assert len(set(main)) == 4
    assert batches(dataset, 2) == main


def test_transform_compose_given_to_an_engine_dataset_is_its_pipeline_and_gets_its_rng():
    t = TransformCompose([dict(name="RandomBrightness", p=1.0)])
    ds = ColourSet(t)
    assert ds.pipeline is t
    ds.sample_rng = np.random.default_rng(4)
    a = ds[0]["img"]
    ds.sample_rng = np.random.default_rng(4)
    assert torch.equal(a, ds[0]["img"])
