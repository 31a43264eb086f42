"""Seed-style samples through the pipeline: a mask under any name stays a label map
(nearest neighbour, never normalised or jittered) while the image is normalised; a plain
torch Dataset with its own TransformCompose is a registered dataset; Mosaic and a
project's BaseMixTransform run through the seed's ``engine.transforms.mix_transforms``.
"""
import cv2
import numpy as np
import pytest
import torch

from engine.data.build import BUILD_DATASET_REGISTRY, build_dataset
from engine.data.seeding import SeededSamples
from engine.transforms.pipe import TransformCompose

H, W, OH, OW = 20, 30, 13, 41
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
NORM = dict(name="Normalize", mean=MEAN, std=STD)
JITTER = dict(name="RandomColorJitter", brightness_p=1.0, contrast_p=1.0, saturation_p=1.0,
              hue_p=1.0, blur_p=1.0, gamma_p=1.0, clahe_p=1.0)
LABELS = {0, 3, 7, 11}


def sample(key="gt_semantic_seg", **extra):
    rng = np.random.default_rng(0)
    seg = rng.choice(sorted(LABELS), size=(H, W)).astype(np.uint8)
    return dict(img=rng.integers(0, 256, (H, W, 3), dtype=np.uint8), **{key: seg},
                img_fields=["img", key], color_fields=["img"], img_shape=(H, W),
                ori_shape=(H, W), **extra)


def nearest(a, oh, ow):
    """Each output pixel takes the source pixel under its centre (independent of engine)."""
    rows = [min(int((i + 0.5) * a.shape[0] / oh), a.shape[0] - 1) for i in range(oh)]
    cols = [min(int((j + 0.5) * a.shape[1] / ow), a.shape[1] - 1) for j in range(ow)]
    return a[np.ix_(rows, cols)]


def flipped(a, direction):
    return {None: a, "horizontal": a[:, ::-1], "vertical": a[::-1],
            "diagonal": a[::-1, ::-1]}[direction]


RESIZE_NEAREST = dict(name="Resize", target_size=(OH, OW),
                      interpolation=dict(img="INTER_LINEAR", gt_semantic_seg="INTER_NEAREST"))
SPELLINGS = {  # how seed projects say "this field is a mask"
    "transform dict": ("gt_semantic_seg", RESIZE_NEAREST, {}),
    "dataset dict": ("label", dict(name="Resize", target_size=(OH, OW)),
                     dict(interpolation=dict(label="INTER_NEAREST"))),
    "left out of color_fields": ("label", dict(name="Resize", target_size=(OH, OW),
                                               interpolation="INTER_LINEAR"), {}),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_a_mask_by_any_name_keeps_its_labels_and_only_img_is_normalised(spelling):
    key, resize, extra = SPELLINGS[spelling]
    src = sample(key, **extra)
    seg, image = src[key].copy(), src["img"].copy()
    pipe = TransformCompose([resize, dict(name="RandomFlip", p=0.5), JITTER, NORM])
    directions = set()
    for seed in range(6):
        np.random.seed(seed)
        out = pipe(sample(key, **extra))
        direction = out.get("flip_direction")
        directions.add(direction)
        assert out[key].dtype == np.uint8 and set(np.unique(out[key])) <= LABELS
        np.testing.assert_array_equal(out[key], flipped(nearest(seg, OH, OW), direction))
        assert out["img"].dtype == np.float32 and out["img"].shape == (OH, OW, 3)
        assert abs(float(out["img"].mean())) < 3  # normalised, not 0..255
    assert len(directions) > 1  # both flipped and unflipped samples were checked
    plain = TransformCompose([resize, NORM])(sample(key, **extra))
    resized = cv2.resize(image, (OW, OH), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    np.testing.assert_allclose(plain["img"], (resized - MEAN) / STD, atol=1e-4)


def test_an_image_left_out_of_color_fields_stays_an_image():
    """A target photo (or a grey image given an interpolation of its own) is resampled
    linearly, not normalised, not jittered: only label maps are taken for masks."""
    src = sample("label", target=np.random.default_rng(1).integers(0, 256, (H, W, 3), np.uint8),
                 grey=np.arange(H * W, dtype=np.uint8).reshape(H, W),
                 interpolation=dict(grey="INTER_LINEAR"))
    src["img_fields"] += ["target", "grey"]
    before = {k: src[k].copy() for k in ("target", "grey")}
    out = TransformCompose([dict(name="Resize", target_size=(OH, OW)), JITTER, NORM])(src)
    for k in ("target", "grey"):
        ref = cv2.resize(before[k], (OW, OH), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(out[k].reshape(ref.shape), ref)
    assert set(np.unique(out["label"])) <= LABELS


@BUILD_DATASET_REGISTRY.register()
class SeedPlainDataset(torch.utils.data.Dataset):
    """The seed's pattern: a plain Dataset that builds and calls its own pipeline."""

    def __init__(self, transformer):
        self.transformer = TransformCompose(transformer)

    def __len__(self):
        return 4

    def __getitem__(self, index):
        out = self.transformer(sample())
        return {"img": torch.from_numpy(np.ascontiguousarray(out["img"].transpose(2, 0, 1))),
                "seg": torch.from_numpy(np.ascontiguousarray(out["gt_semantic_seg"])).long()}


def test_a_plain_dataset_with_its_own_transform_compose_is_a_registered_dataset():
    node = dict(name="SeedPlainDataset", transformer=[RESIZE_NEAREST, JITTER, NORM,
                                                       dict(name="RandomFlip", p=0.5)])
    ds = build_dataset(node, "dataloader.train_data_set")
    seeded = SeededSamples(ds, seed=3)
    a, b, other = seeded[(0, 1)], seeded[(0, 1)], seeded[(1, 1)]
    assert torch.equal(a["img"], b["img"]) and torch.equal(a["seg"], b["seg"])
    assert not torch.equal(a["img"], other["img"])  # the epoch changes the draw
    assert set(a["seg"].unique().tolist()) <= LABELS and a["img"].dtype == torch.float32


def write_tiles(tmp_path, count=3):
    items = []
    for i in range(count):
        tile = np.full((20, 30, 3), 40 * (i + 1), np.uint8)
        path = str(tmp_path / f"tile{i}.png")
        cv2.imwrite(path, tile)
        items.append([path, np.array([[5, 5, 15, 12]], np.float32), [i + 1]])
    return items


def test_mosaic_through_the_seeds_module(tmp_path):
    from engine.transforms.mix_transforms import MosaicTransform

    pipe = TransformCompose([dict(name="MosaicTransform", dataset=write_tiles(tmp_path),
                                  max_size=30, n=4, p=1.0)])
    src = dict(img=np.full((20, 30, 3), 200, np.uint8), bbox=np.array([[0, 0, 30, 20]], np.float32),
               labels=[9], img_fields=["img"], color_fields=["img"], bbox_fields=["bbox"],
               bbox_label_fields=["labels"], img_shape=(20, 30))
    np.random.seed(0)
    out = pipe(src)
    assert isinstance(pipe[0], MosaicTransform)
    assert out["img"].shape == (60, 60, 3) and len(out["mosaic_indices"]) == 3
    assert len(out["bbox"]) == len(out["labels"]) and 9 in list(out["labels"])
    assert {int(v) for v in np.unique(out["img"])} <= {114, 200, 40, 80, 120}


def test_a_projects_base_mix_transform_subclass(tmp_path):
    from engine.transforms.mix_transforms import BaseMixTransform

    class SideBySide(BaseMixTransform):
        def get_mix_labels(self, bbox_field, cls_field):
            self.asked = (bbox_field, cls_field)
            path, boxes, cls = self.dataset[np.random.randint(len(self.dataset))]
            part = cv2.imread(path)
            return [dict(img=part, img_fields=["img"], color_fields=["img"], bbox_fields=["bbox"],
                         bbox=boxes, cls=cls, img_shape=part.shape[:2])]

        def _mix_transform(self, labels):
            other = labels["mix_labels"][0]
            w = labels["img"].shape[1]
            labels["img"] = np.concatenate([labels["img"], other["img"]], axis=1)
            other = self._update_labels(other, w, 0, labels["img"].shape[:2])
            labels["bbox"] = np.concatenate([labels["bbox"], other["bbox"]])
            labels["cls"] = list(labels["cls"]) + list(other["cls"])
            return labels

    mix = SideBySide(write_tiles(tmp_path), p=1.0, max_size=15)
    src = dict(img=np.zeros((20, 30, 3), np.uint8), bbox=np.array([[0, 0, 30, 20]], np.float32),
               cls=[5], img_fields=["img"], color_fields=["img"], bbox_fields=["bbox"],
               bbox_cls_fields=["cls"])
    out = mix(src, np.random.default_rng(0))
    assert mix.asked == ("bbox", "cls") and "mix_labels" not in out
    assert out["img"].shape == (10, 30, 3)  # both halves resized to a long side of 15
    np.testing.assert_allclose(out["bbox"], [[0, 0, 15, 10], [17.5, 2.5, 22.5, 6]])
    assert SideBySide([], p=0.0)(src, np.random.default_rng(0)) is src
