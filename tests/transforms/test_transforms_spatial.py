"""Per-transform specification of the spatial transforms (data_aug.md and beyond)."""
import cv2
import numpy as np
import pytest

from engine.data.dataset import EngineDataSet
from engine.transforms import (
    Cutout,
    MosaicTransform,
    Pad,
    Pad32,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomFlip,
    RandomPerspective,
    RandomResize,
    RandomResizedCrop,
    RandomRotate,
    Resize,
    build_transforms,
)
from engine.utils.errors import ConfigError


def rng(seed=0):
    return np.random.default_rng(seed)


def sample(h=32, w=48):
    img = np.random.default_rng(5).integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = (np.arange(h * w).reshape(h, w) % 4).astype(np.uint8)
    return dict(img=img, mask=mask, bbox=np.array([[4, 4, 20, 16], [30, 2, 40, 30]], np.float32),
                labels=np.array([1, 2]), pts=np.array([[5.5, 6.5], [33.0, 20.0]], np.float32),
                bbox_label_fields=["labels"], img_shape=(h, w), ori_shape=(h, w))


RANDOM_WITH_P = [
    lambda p: RandomAffine(rotate_degree_range=[-30, 30], p=p),
    lambda p: RandomFlip(direction=["horizontal", "vertical"], p=p),
    lambda p: RandomCrop(size=[20, 20], p=p),
    lambda p: RandomCrop(min_crop_ratio=0.1, max_crop_ratio=0.4, crop_step=0.1, p=p),
    lambda p: RandomRotate(degrees=30, p=p),
    lambda p: RandomPerspective(distortion_scale=0.5, p=p),
    lambda p: Cutout(num_holes=3, max_h_size=8, max_w_size=8, fill=0, mask_fill=255, p=p),
    lambda p: RandomErasing(value=0, p=p),
]


@pytest.mark.parametrize("make", RANDOM_WITH_P)
def test_p_zero_leaves_the_sample_untouched_and_p_one_changes_it(make):
    before = sample()
    untouched = make(0.0)(sample(), rng())
    for key in ("img", "mask", "bbox", "labels", "pts"):
        np.testing.assert_array_equal(untouched[key], before[key], err_msg=key)
    changed = make(1.0)(sample(), rng())
    assert changed["img"].shape != before["img"].shape or not np.array_equal(changed["img"], before["img"])


# ------------------------------------------------------------------ RandomAffine


def test_affine_quarter_turn_equals_rot90_clockwise():
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    t = RandomAffine(rotate_degree_range=[90], rotate_range=False, border_ratio=1.0, p=1.0,
                     min_bbox_size=0)
    r = t(dict(img=img, mask=img[..., 0].copy(), bbox=np.array([[0, 0, 4, 2]], np.float32),
               pts=np.array([[0.5, 0.5]], np.float32)), rng())
    np.testing.assert_array_equal(r["img"], np.rot90(img, k=-1))  # positive = clockwise
    np.testing.assert_array_equal(r["mask"], np.rot90(img[..., 0], k=-1))
    np.testing.assert_allclose(r["bbox"], [[14, 0, 16, 4]], atol=1e-4)
    np.testing.assert_allclose(r["pts"], [[15.5, 0.5]], atol=1e-4)


def test_affine_max_rotate_degree_is_the_symmetric_range():
    a = RandomAffine(max_rotate_degree=30, p=1.0)(sample(), rng(3))
    b = RandomAffine(rotate_degree_range=(-30, 30), rotate_range=True, p=1.0)(sample(), rng(3))
    np.testing.assert_array_equal(a["img"], b["img"])


def test_affine_border_ratio_grows_the_canvas_and_fills_it():
    r = RandomAffine(rotate_degree_range=[0, 0], border_ratio=1.5, p=1.0)(sample(32, 48), rng())
    assert r["img"].shape == (48, 72, 3) and r["img_shape"] == (48, 72)
    assert (r["img"][0, 0] == 114).all() and r["mask"][0, 0] == 0
    np.testing.assert_array_equal(r["img"][8:40, 12:60], sample()["img"])  # centred
    np.testing.assert_allclose(r["bbox"], sample()["bbox"] + [12, 8, 12, 8])


def test_affine_box_thresholds_remove_boxes_with_their_labels():
    s = sample()
    s["bbox"] = np.array([[4, 4, 20, 16], [2, 2, 3.5, 20], [30, 10, 31.5, 11.5]], np.float32)
    s["labels"] = np.array([1, 2, 3])
    identity = dict(rotate_degree_range=[0, 0], border_ratio=1.0, p=1.0)
    r = RandomAffine(min_bbox_size=2, max_aspect_ratio=100, **identity)(s, rng())
    assert r["labels"].tolist() == [1]  # both narrow boxes are <= 2 px on a side
    s = sample()
    s["bbox"] = np.array([[4, 4, 20, 16], [2, 2, 5, 30]], np.float32)
    r = RandomAffine(min_bbox_size=0, max_aspect_ratio=5, **identity)(s, rng())
    assert r["labels"].tolist() == [1]  # 3 x 28 has aspect 9.3
    s = sample()
    s["bbox"] = np.array([[4, 4, 20, 16], [44, 2, 60, 10]], np.float32)  # half outside
    r = RandomAffine(min_bbox_size=0, min_area_ratio=0.6, **identity)(s, rng())
    assert r["labels"].tolist() == [1]


def test_per_field_interpolation_and_fill_dicts_are_honoured():
    s = sample()
    s.update(interpolation=dict(img="INTER_NEAREST"), pad_value=dict(img=7, mask=9))
    r = RandomAffine(rotate_degree_range=[-40, 40], border_ratio=1.3, p=1.0)(s, rng(1))
    allowed = set(np.unique(np.concatenate([sample()["img"].reshape(-1), [7]])))
    assert set(np.unique(r["img"])) <= allowed  # nearest: no new values
    assert (r["img"][0, 0] == 7).all() and r["mask"][0, 0] == 9


# ------------------------------------------------------------------ RandomFlip


@pytest.mark.parametrize("direction, swapped", [("horizontal", True), ("vertical", True),
                                                ("diagonal", False)])
def test_flip_pairs_swap_left_and_right_points_on_mirror_flips(direction, swapped):
    pts = np.array([[10.0, 5.0], [30.0, 5.0], [20.0, 9.0]], np.float32)  # left eye, right eye, nose
    r = RandomFlip(direction=direction, p=1.0, flip_pairs=[[0, 1]])(
        dict(img=np.zeros((20, 40, 3), np.uint8), pts=pts.copy()), rng())
    plain = RandomFlip(direction=direction, p=1.0)(
        dict(img=np.zeros((20, 40, 3), np.uint8), pts=pts.copy()), rng())["pts"]
    expected = plain[[1, 0, 2]] if swapped else plain
    np.testing.assert_allclose(r["pts"], expected)
    assert r["direction"] == direction


def test_flip_uses_cv2_and_matches_numpy_for_every_dtype():
    for dtype in (np.uint8, np.float32, np.int64, np.bool_):
        img = (np.arange(24).reshape(2, 3, 4) % 2).astype(dtype)
        r = RandomFlip(direction="horizontal", p=1.0)(dict(img=img), rng())
        np.testing.assert_array_equal(r["img"], img[:, ::-1])
        assert r["img"].dtype == img.dtype and r["img"].flags.c_contiguous


# ------------------------------------------------------------------ Resize family


def test_resize_keep_ratio_with_padding_records_scale_and_offset():
    img = np.zeros((30, 60, 3), np.uint8)
    img[6, 30] = 255
    r = Resize(target_size=40, keep_ratio=True, is_padding=True, interpolation="INTER_NEAREST")(
        dict(img=img, pts=np.array([[30.5, 6.5]], np.float32)), rng())
    assert r["img"].shape == (40, 40, 3)
    assert r["pad_offset"] == [10, 10, 0, 0] and r["scale"] == pytest.approx([2 / 3, 2 / 3])
    x, y = 30.5 * r["scale"][0] + r["pad_offset"][2], 6.5 * r["scale"][1] + r["pad_offset"][0]
    np.testing.assert_allclose(r["pts"], [[x, y]], atol=1e-5)
    assert r["img"][int(y), int(x), 0] == 255


def test_resize_draws_its_interpolation_from_a_list():
    img = np.random.default_rng(0).integers(0, 256, (9, 9), dtype=np.uint8)
    t = Resize(target_size=20, interpolation=["INTER_NEAREST", "INTER_LINEAR"])
    outs = {t(dict(img=img), rng(s))["img"].tobytes() for s in range(10)}
    assert len(outs) == 2


def test_random_resize_pads_to_padding_size_and_keeps_the_map_to_the_original():
    img = np.zeros((50, 100, 3), np.uint8)
    img[10, 60] = 255
    t = RandomResize(max_edge_length=[32, 48, 200], padding_size=64, interpolation="INTER_NEAREST")
    assert t._lengths == [32, 48, 64]
    sizes = set()
    for seed in range(12):
        r = t(dict(img=img.copy(), pts=np.array([[60.5, 10.5]], np.float32)), rng(seed))
        assert r["img"].shape == (64, 64, 3)
        sx, sy = r["scale"]
        x, y = 60.5 * sx + r["pad_offset"][2], 10.5 * sy + r["pad_offset"][0]
        np.testing.assert_allclose(r["pts"], [[x, y]], atol=1e-4)
        sizes.add(round(100 * sx))
    assert sizes == {32, 48, 64}


def test_pad32_pads_centred_to_multiples_of_32():
    s = dict(img=np.ones((33, 40), np.uint8), bbox=np.array([[0, 0, 2, 2]], np.float32))
    r = Pad32()(s, rng())
    assert r["img"].shape == (64, 64) and r["pad_offset"] == [15, 16, 12, 12]
    assert r["img"][15, 12] == 1 and r["img"][14, 12] == 0
    np.testing.assert_allclose(r["bbox"], [[12, 15, 14, 17]])


def test_pad_takes_a_fill_per_field():
    s = dict(img=np.ones((3, 3), np.uint8), img2=np.ones((3, 3), np.uint8), img_fields=["img", "img2"])
    r = Pad(size=[4, 4], pad_val={"img": 5, "img2": 9})(s, rng())
    assert r["img"][3, 3] == 5 and r["img2"][3, 3] == 9


# ------------------------------------------------------------------ crops


def test_random_crop_ratio_draws_from_the_seed_grid():
    t = RandomCrop(min_crop_ratio=0.05, max_crop_ratio=0.25, crop_step=0.05)
    np.testing.assert_allclose(t._ratios, [0.75, 0.8, 0.85, 0.9, 0.95])
    heights = {t(dict(img=np.zeros((100, 100), np.uint8)), rng(s))["img"].shape[0] for s in range(60)}
    assert heights == {75, 80, 85, 90, 95}


def test_random_crop_removes_boxes_left_outside_with_their_labels():
    boxes = np.array([[0, 0, 4, 4], [18, 18, 22, 22]], np.float32)
    removed = 0
    for k in range(20):
        s = dict(img=np.zeros((40, 40), np.uint8), bbox=boxes.copy(), labels=["corner", "centre"],
                 bbox_label_fields=["labels"])
        r = RandomCrop(size=[10, 10])(s, rng(k))
        x1, y1, x2, y2 = r["crop_bbox"]
        overlaps = (np.minimum(boxes[:, 2], x2) > np.maximum(boxes[:, 0], x1)) & (
            np.minimum(boxes[:, 3], y2) > np.maximum(boxes[:, 1], y1))
        assert r["labels"] == [n for n, o in zip(["corner", "centre"], overlaps) if o]
        assert len(r["bbox"]) == overlaps.sum()
        removed += 2 - len(r["bbox"])
    assert removed > 0


def test_random_resized_crop_output_and_area():
    t = RandomResizedCrop(size=[24, 32], scale=[0.25, 0.5], ratio=[1.0, 1.0])
    for seed in range(10):
        top, left, ch, cw = t.window(100, 100, rng(seed))
        assert 0.2 <= ch * cw / 1e4 <= 0.55 and ch == cw
    r = t(sample(64, 64), rng())
    assert r["img"].shape == (24, 32, 3) and r["mask"].shape == (24, 32)


# ------------------------------------------------------------------ occlusion


def test_cutout_fills_images_and_optionally_masks():
    s = dict(img=np.full((20, 20, 3), 9, np.uint8), mask=np.ones((20, 20), np.uint8))
    r = Cutout(num_holes=2, max_h_size=5, max_w_size=5, fill=0, p=1.0)(s, rng())
    holes = (r["img"][..., 0] == 0).sum()
    assert 0 < holes <= 50 and (r["mask"] == 1).all()
    r = Cutout(num_holes=1, max_h_size=5, max_w_size=5, fill=0, mask_fill=255, p=1.0)(
        dict(img=np.full((20, 20, 3), 9, np.uint8), mask=np.ones((20, 20), np.uint8)), rng())
    assert np.array_equal(r["mask"] == 255, r["img"][..., 0] == 0)


def test_random_erasing_covers_a_fraction_within_scale():
    for seed in range(5):
        r = RandomErasing(scale=[0.1, 0.2], ratio=[0.5, 2.0], value=0, p=1.0)(
            dict(img=np.full((40, 40), 200, np.uint8)), rng(seed))
        assert 0.07 <= (r["img"] == 0).mean() <= 0.25


# ------------------------------------------------------------------ Mosaic


def tile(value, h=20, w=30):
    img = np.full((h, w, 3), value, np.uint8)
    return dict(img=img, mask=np.full((h, w), value % 7, np.uint8),
                bbox=np.array([[2, 2, 12, 12]], np.float32), labels=np.array([value]),
                bbox_label_fields=["labels"], img_shape=(h, w), ori_shape=(h, w))


class TileSet(EngineDataSet):
    """Sample i is a flat image of value 20 * (i + 1) with one box."""

    def __init__(self, n=6, transformer=None):
        super().__init__(transformer)
        self.n = n

    def __len__(self):
        return self.n

    def load_results(self, index):
        return tile(20 * (index + 1))

    def __getitem__(self, index):
        return self.data_pipeline(self.load_results(index))


def check_mosaic_boxes(r):
    assert len(r["bbox"]) == len(r["labels"]) >= 1
    for box, label in zip(r["bbox"], r["labels"]):
        x1, y1, x2, y2 = box.astype(int)
        assert (r["img"][y1:y2, x1:x2] == label).all()  # each box lies on its own tile
        assert (r["mask"][y1:y2, x1:x2] == label % 7).all()


@pytest.mark.parametrize("n, side", [(3, 3 * 40 - 2 * 20), (4, 80), (9, 3 * 40 - 2 * 20)])
def test_mosaic_from_a_dataset_combines_every_field(n, side):
    ds = TileSet(transformer=[dict(name="MosaicTransform", max_size=40, n=n, p=1.0)])
    ds.sample_rng = rng(2)
    r = ds.data_pipeline(tile(10))
    assert r["img"].shape == (side, side, 3) and r["mask"].shape == (side, side)
    assert len(r["mosaic_indices"]) == n - 1
    check_mosaic_boxes(r)
    ds.sample_rng = rng(2)
    again = ds.data_pipeline(tile(10))
    np.testing.assert_array_equal(again["img"], r["img"])  # a function of the rng alone


def test_mosaic_with_the_seed_dataset_list(tmp_path):
    items = []
    for k in range(3):
        path = str(tmp_path / f"{k}.png")
        cv2.imwrite(path, np.full((20, 30, 3), 40 * (k + 1), np.uint8))
        items.append([path, np.array([[2, 2, 12, 12]], np.float32), [40 * (k + 1)]])
    t = build_transforms([dict(name="MosaicTransform", dataset=items, max_size=40, n=4, p=1.0)])
    s = tile(10)
    del s["mask"]
    r = t(s, rng(4))
    assert r["img"].shape == (80, 80, 3)
    check_mosaic_boxes(dict(r, mask=(r["img"][..., 0] % 7)))


def test_mosaic_p_zero_and_a_dataset_without_load_results():
    s = tile(10)
    assert MosaicTransform(dataset=[["x.png", np.zeros((0, 4)), []]], p=0.0)(s, rng()) is s

    class Plain(EngineDataSet):
        def __len__(self):
            return 1

    with pytest.raises(ConfigError, match="load_results"):
        Plain(transformer=[dict(name="MosaicTransform", max_size=40)])


# ------------------------------------------------------------------ bad parameters


@pytest.mark.parametrize("entry, pattern", [
    (dict(name="RandomAffine", rotate_degree_range=10), r"rotate_degree_range.*pair"),
    (dict(name="RandomAffine", max_translate_ratio=2), r"max_translate_ratio.*\[0, 1\]"),
    (dict(name="RandomAffine", interpolation="LINEAR"), r"interpolation.*INTER_LINEAR"),
    (dict(name="RandomFlip", flip_pairs=[[0]]), r"flip_pairs"),
    (dict(name="Resize", target_size=8, interpolation=[]), r"interpolation"),
    (dict(name="RandomResize", max_edge_length=[], padding_size=64), r"max_edge_length"),
    (dict(name="RandomCrop", min_crop_ratio=0.3, max_crop_ratio=0.1), r"min_crop_ratio"),
    (dict(name="RandomCrop", size=8, min_crop_ratio=0.1, max_crop_ratio=0.2), r"either size"),
    (dict(name="RandomCrop"), r"either size"),
    (dict(name="RandomCrop", min_crop_ratio=0.1, max_crop_ratio=0.2, crop_step=0), r"crop_step"),
    (dict(name="Pad32", size_divisor=0), r"size_divisor"),
    (dict(name="RandomResizedCrop", size=8, scale=[0.5, 0.1]), r"scale"),
    (dict(name="RandomRotate", degrees=[30, -30]), r"degrees"),
    (dict(name="RandomPerspective", distortion_scale=1.5), r"distortion_scale"),
    (dict(name="Cutout", num_holes=0), r"num_holes"),
    (dict(name="RandomErasing", value="noise"), r"value"),
    (dict(name="MosaicTransform", n=5), r"n must be 3"),
    (dict(name="MosaicTransform", dataset=["a.png"]), r"dataset must be"),
])
def test_bad_parameters_name_the_entry(entry, pattern):
    with pytest.raises(ConfigError, match=r"transformer\[1\].*" + pattern):
        build_transforms([dict(name="Pad32"), entry])


def test_occlusion_never_writes_into_the_callers_arrays():
    img = np.full((20, 20, 3), 9, np.uint8)
    for t in (Cutout(num_holes=3, p=1.0), RandomErasing(value="random", p=1.0)):
        out = t(dict(img=img), rng())
        assert (img == 9).all() and not (out["img"] == 9).all()


def test_fast_mask_resize_equals_the_reference_nearest_rule():
    import engine.transforms.functional as F
    from engine.transforms.functional_spatial import resize_nearest

    g = rng(3)
    for _ in range(30):
        h, w, nh, nw = (int(v) for v in g.integers(1, 70, 4))
        m = g.integers(0, 9, (h, w)).astype(np.int64)
        np.testing.assert_array_equal(resize_nearest(m, (nh, nw)), F.resize_mask(m, (nh, nw)))


def test_scale_and_pad_offset_compose_over_a_resize_and_pad_pipeline():
    img = np.zeros((45, 70, 3), np.uint8)
    img[29:32, 51:54] = 255  # centred on (52.5, 30.5)
    out = build_transforms([
        dict(name="Resize", target_size=50, keep_ratio=True, interpolation="INTER_NEAREST"),
        dict(name="Pad32"),
        dict(name="Resize", target_size=[96, 128], interpolation="INTER_NEAREST"),
        dict(name="Pad", size=[100, 130]),
    ])(dict(img=img), rng())
    (sx, sy), (top, _, left, _) = out["scale"], out["pad_offset"]
    x, y = 52.5 * sx + left, 30.5 * sy + top
    ys, xs = np.nonzero(out["img"][..., 0])
    assert xs.min() <= x <= xs.max() + 1 and ys.min() <= y <= ys.max() + 1
    assert (45 * sy + top + out["pad_offset"][1], 70 * sx + left + out["pad_offset"][3]) == \
        pytest.approx(out["img"].shape[:2])


def test_a_labels_key_follows_the_boxes_by_default():
    s = dict(img=np.zeros((20, 20), np.uint8), bbox=np.array([[0, 0, 4, 4], [12, 12, 18, 18]], np.float32),
             labels=np.array([1, 2]))
    r = build_transforms([dict(name="CenterCrop", size=[10, 10])])(s, rng())  # keeps 5..15
    assert r["labels"].tolist() == [2] and len(r["bbox"]) == 1
    s = dict(img=np.zeros((20, 20), np.uint8), labels=np.array([1, 2, 3]),
             bbox=np.array([[0, 0, 4, 4], [12, 12, 18, 18]], np.float32))
    with pytest.raises(ValueError, match="labels.*3 rows.*2"):
        build_transforms([dict(name="CenterCrop", size=[10, 10])])(s, rng())
