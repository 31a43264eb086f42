"""Specification of the data augmentation transforms (engine.transforms)."""
import random

import numpy as np
import pytest
import torch
from yacs.config import CfgNode

import engine.transforms.functional as F
from engine.transforms import (
    TRANSFORM_REGISTRY,
    CenterCrop,
    Compose,
    Normalize,
    Pad,
    RandomColorJitter,
    RandomCrop,
    RandomFlip,
    Resize,
    ToTensor,
    build_transforms,
)
from engine.utils.errors import ConfigError

H, W = 6, 8
ROW, COL = 1, 2  # the one marked pixel


def marked_sample():
    """An image, mask, box and point that all mark pixel (ROW, COL)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[ROW, COL] = (255, 128, 64)
    mask = np.zeros((H, W), np.int64)
    mask[ROW, COL] = 7
    return dict(
        img=img,
        mask=mask,
        bbox=np.array([[COL, ROW, COL + 1, ROW + 1]], np.float32),
        pts=np.array([[COL + 0.5, ROW + 0.5]], np.float32),
        img_shape=(H, W),
        ori_shape=(H, W),
        img_fields=["img"],
        color_fields=["img"],
        bbox_fields=["bbox"],
        pts_fields=["pts"],
        mask_fields=["mask"],
    )


def assert_fields_agree(r, label=7):
    """The marked pixel of img and mask lies under the box and under the point."""
    rows, cols = np.nonzero(r["img"][..., 0] == 255)
    assert len(rows) >= 1
    x1, y1, x2, y2 = r["bbox"][0]
    assert x1 <= cols.min() and cols.max() + 1 <= x2 and y1 <= rows.min() and rows.max() + 1 <= y2
    px, py = r["pts"][0]
    assert r["img"][int(py), int(px), 0] == 255
    assert r["mask"][int(py), int(px)] == label
    assert np.array_equal(r["mask"] == label, r["img"][..., 0] == 255)
    assert tuple(r["img_shape"]) == r["img"].shape[:2] == r["mask"].shape


def sample_rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- geometric


@pytest.mark.parametrize(
    "direction, row, col",
    [
        ("horizontal", ROW, W - 1 - COL),
        ("vertical", H - 1 - ROW, COL),
        ("diagonal", H - 1 - ROW, W - 1 - COL),
    ],
)
def test_flip_moves_mask_bbox_and_points_with_the_image(direction, row, col):
    r = RandomFlip(direction=direction, p=1.0)(marked_sample(), sample_rng())
    assert r["img"][row, col, 0] == 255 and r["mask"][row, col] == 7
    np.testing.assert_allclose(r["bbox"], [[col, row, col + 1, row + 1]])
    np.testing.assert_allclose(r["pts"], [[col + 0.5, row + 0.5]])
    assert r["flip"] is True and r["flip_direction"] == direction
    assert_fields_agree(r)


def test_flip_with_p_zero_changes_nothing():
    before = marked_sample()
    r = RandomFlip(p=0.0)(marked_sample(), sample_rng())
    assert r["flip"] is False
    for key in ("img", "mask", "bbox", "pts"):
        assert np.array_equal(r[key], before[key])


def test_flip_draws_every_listed_direction():
    flip = RandomFlip(direction=["horizontal", "vertical", "diagonal"], p=1.0)
    rng = sample_rng()
    seen = {flip(marked_sample(), rng)["flip_direction"] for _ in range(60)}
    assert seen == {"horizontal", "vertical", "diagonal"}


def test_resize_scales_mask_bbox_and_points_with_the_image():
    r = Resize(target_size=[12, 16], interpolation="INTER_NEAREST")(marked_sample())
    assert r["img"].shape == (12, 16, 3) and r["img_shape"] == (12, 16)
    assert r["img"][2 * ROW:2 * ROW + 2, 2 * COL:2 * COL + 2, 0].min() == 255
    np.testing.assert_allclose(r["bbox"], [[2 * COL, 2 * ROW, 2 * COL + 2, 2 * ROW + 2]])
    np.testing.assert_allclose(r["pts"], [[2 * COL + 1, 2 * ROW + 1]])
    np.testing.assert_allclose(r["scale_factor"], [2, 2, 2, 2])
    assert_fields_agree(r)


def test_resize_never_interpolates_mask_labels():
    mask = np.random.default_rng(0).choice([0, 3, 250], size=(9, 13)).astype(np.uint8)
    r = Resize(target_size=[20, 7], interpolation="INTER_CUBIC")(
        dict(img=np.zeros((9, 13), np.float32), mask=mask)
    )
    assert r["mask"].shape == (20, 7) and r["mask"].dtype == np.uint8
    assert set(np.unique(r["mask"])) <= {0, 3, 250}


def test_resize_keep_ratio_fits_the_long_side():
    r = Resize(target_size=20, keep_ratio=True)(dict(img=np.zeros((100, 50, 3), np.uint8)))
    assert r["img"].shape == (20, 10, 3)
    np.testing.assert_allclose(r["scale_factor"], [0.2, 0.2, 0.2, 0.2])


def test_resize_keeps_a_single_channel_axis():
    r = Resize(target_size=4)(dict(img=np.zeros((8, 8, 1), np.uint8)))
    assert r["img"].shape == (4, 4, 1)


def test_random_crop_moves_every_field_by_the_same_offset():
    img = np.arange(10 * 12, dtype=np.float32).reshape(10, 12)
    results = dict(
        img=img,
        mask=img.astype(np.int32),
        bbox=np.array([[3, 2, 7, 6], [0, 0, 1, 1]], np.float32),
        pts=np.array([[5.5, 4.5]], np.float32),
    )
    r = RandomCrop(size=[6, 7], clip_border=True)(results, sample_rng(3))
    top, left = divmod(int(r["img"][0, 0]), 12)
    assert np.array_equal(r["img"], img[top:top + 6, left:left + 7])
    assert np.array_equal(r["mask"], r["img"].astype(np.int32))
    expected = np.clip(
        np.array([[3, 2, 7, 6], [0, 0, 1, 1]], np.float32) - [left, top, left, top],
        0, [7, 6, 7, 6],
    )
    expected = expected[(expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])]
    np.testing.assert_allclose(r["bbox"], expected)  # boxes left outside are removed
    px, py = r["pts"][0]
    assert r["img"][int(py), int(px)] == img[4, 5]
    np.testing.assert_allclose(r["crop_bbox"], [left, top, left + 7, top + 6])


def test_center_crop_takes_the_middle_window():
    img = np.arange(10 * 12, dtype=np.float32).reshape(10, 12)
    r = CenterCrop(size=4)(dict(img=img, pts=np.array([[6.0, 5.0]])))
    assert np.array_equal(r["img"], img[3:7, 4:8])
    np.testing.assert_allclose(r["pts"], [[2.0, 2.0]])


def test_crop_larger_than_image_is_an_error_unless_padding_is_allowed():
    results = dict(img=np.ones((4, 4), np.uint8), mask=np.ones((4, 4), np.uint8))
    with pytest.raises(ValueError, match="pad_if_needed"):
        RandomCrop(size=6)(dict(results), sample_rng())
    r = RandomCrop(size=6, pad_if_needed=True, pad_val=9, mask_pad_val=255)(results, sample_rng())
    assert r["img"].shape == (6, 6) and (r["img"] == 9).sum() == 36 - 16
    assert (r["mask"] == 255).sum() == 36 - 16


def test_pad_to_divisor_extends_bottom_right_and_keeps_coordinates():
    s = marked_sample()
    r = Pad(size_divisor=4, pad_val=[1, 2, 3], mask_pad_val=255)(s)
    assert r["img"].shape == (8, 8, 3) and r["img_shape"] == r["pad_shape"] == (8, 8)
    assert tuple(r["img"][7, 7]) == (1, 2, 3) and r["mask"][7, 0] == 255
    np.testing.assert_allclose(r["pts"], [[COL + 0.5, ROW + 0.5]])
    assert r["img"][ROW, COL, 0] == 255


def test_pad_to_fixed_size():
    r = Pad(size=[7, 9])(dict(img=np.ones((6, 8), np.uint8)))
    assert r["img"].shape == (7, 9) and r["img"][6, 8] == 0


def test_a_mask_listed_in_img_fields_is_resampled_as_a_mask():
    mask = np.array([[0, 5], [5, 0]], np.uint8)
    r = Resize(target_size=5)(dict(img=np.zeros((2, 2), np.float32), mask=mask,
                                   img_fields=["img", "mask"], color_fields=["img"]))
    assert set(np.unique(r["mask"])) <= {0, 5}


# ---------------------------------------------------------------- colour


def all_on_jitter():
    return RandomColorJitter(
        brightness_p=1, contrast_p=1, saturation_p=1, hue_p=1, blur_p=1, gamma_p=1
    )


def test_color_jitter_changes_only_color_fields():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    results = marked_sample()
    results.update(img=img, img2=img.copy(), img_fields=["img", "img2"],
                   color_fields=["img", "mask"])
    before = {k: np.copy(v) for k, v in results.items() if isinstance(v, np.ndarray)}
    r = all_on_jitter()(results, sample_rng())
    assert not np.array_equal(r["img"], before["img"]) and r["img"].dtype == np.uint8
    for key in ("img2", "mask", "bbox", "pts"):
        assert np.array_equal(r[key], before[key]), key


def test_color_jitter_applies_one_draw_to_all_color_fields():
    img = np.random.default_rng(2).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    r = all_on_jitter()(dict(img=img, img2=img.copy(), color_fields=["img", "img2"]), sample_rng())
    assert np.array_equal(r["img"], r["img2"])


def test_color_ops_saturate_uint8_instead_of_wrapping():
    img = np.full((2, 2, 3), 200, np.uint8)
    assert F.adjust_brightness(img, 2.0).max() == 255
    assert F.adjust_brightness(img, 2.0).dtype == np.uint8
    assert F.adjust_contrast(np.array([[0, 255]], np.uint8), 3.0).tolist() == [[0, 255]]


def test_hue_rotation_by_a_third_turns_red_into_green():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert F.adjust_hue(red, 1 / 3)[0, 0].argmax() == 1
    redf = red.astype(np.float32) / 255
    np.testing.assert_allclose(F.adjust_hue(redf, 1 / 3)[0, 0], [0, 1, 0], atol=1e-5)


def test_gamma_and_blur_keep_shape_and_dtype():
    img = np.random.default_rng(0).integers(0, 256, (9, 9, 1), dtype=np.uint8)
    assert F.adjust_gamma(img, 2.0).shape == img.shape
    assert F.adjust_gamma(img, 2.0).max() <= img.max()
    assert F.gaussian_blur(img, 5).shape == (9, 9, 1)
    assert F.gaussian_blur(img, 5).dtype == np.uint8


# ---------------------------------------------------------------- formatting


def test_to_tensor_scales_uint8_and_keeps_float_values():
    t = F.to_tensor(np.full((4, 5, 3), 255, np.uint8))
    assert t.shape == (3, 4, 5) and t.dtype == torch.float32 and float(t.max()) == 1.0
    assert F.to_tensor(np.full((4, 5), 3.5, np.float32)).shape == (1, 4, 5)
    assert float(F.to_tensor(np.full((4, 5), 3.5, np.float32)).max()) == 3.5


def test_to_tensor_accepts_flipped_views():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)[:, ::-1]
    assert F.to_tensor(img)[0, 0, 0] == pytest.approx(3 / 255)


def test_normalize_then_to_tensor_does_not_rescale():
    results = dict(img=np.full((2, 2, 3), 110, np.uint8), mask=np.ones((2, 2), np.uint8))
    r = Compose([Normalize(mean=[10, 60, 110], std=[2, 5, 10], to_rgb=False), ToTensor()])(results)
    assert r["img"].dtype == torch.float32 and r["img"].shape == (3, 2, 2)
    assert r["img"][:, 0, 0].tolist() == [50.0, 10.0, 0.0]
    assert r["mask"].dtype == torch.int64 and r["mask"].shape == (2, 2)


def test_normalize_to_rgb_swaps_channels_first():
    img = np.zeros((1, 1, 3), np.uint8)
    img[..., 0] = 30  # blue in BGR
    out = Normalize(mean=0, std=1, to_rgb=True)(dict(img=img))["img"]
    assert out.dtype == np.float32 and out[0, 0].tolist() == [0, 0, 30]


# ---------------------------------------------------------------- randomness


def full_pipeline():
    return build_transforms([
        dict(name="RandomFlip", direction=["horizontal", "vertical", "diagonal"], p=0.5),
        dict(name="RandomCrop", size=[12, 12]),
        dict(name="Resize", target_size=8),
        dict(name="RandomColorJitter", brightness_p=0.5, contrast_p=0.5, saturation_p=0.5,
             hue_p=0.5, blur_p=0.5, gamma_p=0.5),
    ])


def noisy_sample():
    img = np.random.default_rng(123).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    return dict(img=img, pts=np.array([[3.5, 4.5]], np.float32))


def test_same_seeded_rng_gives_identical_output():
    pipeline = full_pipeline()
    outs = [pipeline(noisy_sample(), np.random.default_rng(42)) for _ in range(2)]
    assert np.array_equal(outs[0]["img"], outs[1]["img"])
    assert np.array_equal(outs[0]["pts"], outs[1]["pts"])
    others = [pipeline(noisy_sample(), np.random.default_rng(s))["img"] for s in range(5)]
    assert any(not np.array_equal(o, outs[0]["img"]) for o in others)


def test_transforms_never_touch_global_random_state():
    np.random.seed(0), random.seed(0), torch.manual_seed(0)
    states = (np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state())
    pipeline = full_pipeline()
    for seed in range(5):
        pipeline(noisy_sample(), np.random.default_rng(seed))
    pipeline(noisy_sample())  # rng=None: a fresh generator, not the global one
    assert np.array_equal(np.random.get_state()[1], states[0])
    assert random.getstate() == states[1]
    assert torch.equal(torch.get_rng_state(), states[2])


def test_user_transform_without_rng_argument_works_in_compose():
    class AddOne:
        def __call__(self, results):
            results["img"] = results["img"] + 1
            return results

    def double(results):
        results["img"] = results["img"] * 2
        return results

    seen = []

    class KeywordRng:
        def __call__(self, results, *, rng):
            seen.append(rng)
            return results

    rng = sample_rng()
    r = Compose([AddOne(), double, KeywordRng()])(dict(img=np.zeros((2, 2))), rng)
    assert r["img"].max() == 2 and seen == [rng]


def test_transform_returning_none_is_reported():
    with pytest.raises(TypeError, match="returned None"):
        Compose([lambda results: None])(dict(img=np.zeros((2, 2))))


# ---------------------------------------------------------------- building and errors


def test_build_transforms_accepts_upper_case_cfg_nodes():
    cfg_list = [
        CfgNode({"NAME": "RandomFlip", "DIRECTION": ["horizontal"], "P": 1.0}),
        CfgNode({"NAME": "Resize", "TARGET_SIZE": [3, 4], "INTERPOLATION": "INTER_NEAREST"}),
    ]
    pipeline = build_transforms(cfg_list)
    assert [type(t).__name__ for t in pipeline] == ["RandomFlip", "Resize"]
    assert pipeline(marked_sample())["img"].shape == (3, 4, 3)


def test_build_transforms_of_nothing_is_an_empty_pipeline():
    assert len(build_transforms(None)) == 0 and len(build_transforms([])) == 0
    assert build_transforms([])(dict(img=1)) == dict(img=1)


def test_build_transforms_rejects_a_non_list():
    with pytest.raises(ConfigError, match=r"val_data_set\.transformer: expected a list"):
        build_transforms(dict(name="Resize"), where="dataloader.val_data_set.transformer")


def test_unknown_transform_name_lists_registered_names():
    with pytest.raises(ConfigError) as e:
        build_transforms([dict(name="Resize", target_size=4), dict(name="RandomFlipp")])
    msg = str(e.value)
    assert "transformer[1]" in msg and "RandomFlipp" in msg
    assert "'RandomFlip'" in msg and "Resize" in msg and "ToTensor" in msg


def test_bad_parameter_error_names_entry_and_parameter():
    pattern = r"transformer\[0\]: RandomFlip: p must be .*\[0, 1\].*1\.5"
    with pytest.raises(ConfigError, match=pattern):
        build_transforms([dict(name="RandomFlip", p=1.5)])
    with pytest.raises(ConfigError, match=r"transformer\[0\].*unexpected keyword.*Given"):
        build_transforms([dict(name="Resize", target_size=4, size=3)])


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: RandomFlip(direction="sideways"), r"unknown direction 'sideways'.*horizontal"),
        (lambda: Resize(target_size=4, interpolation="BILINEAR"), r"interpolation.*INTER_LINEAR"),
        (lambda: Resize(target_size=[4]), r"target_size must be a positive int or a pair"),
        (lambda: RandomColorJitter(brightness_limit=[1.2, 0.6]), r"brightness_limit.*min <= max"),
        (lambda: RandomColorJitter(hue_limit=[-0.1, 0.9]), r"hue_limit.*\[-0.5, 0.5\]"),
        (lambda: RandomColorJitter(blur_limit=[4, 4]), r"blur_limit.*odd"),
        (lambda: RandomColorJitter(gamma_p=-0.1), r"gamma_p must be a probability"),
        (lambda: Pad(), r"exactly one of size .* and size_divisor"),
        (lambda: Normalize(mean=[0, 0, 0], std=[1, 0, 1]), r"std must be .*non-zero"),
        (lambda: RandomCrop(size=0), r"size must be a positive int"),
    ],
)
def test_bad_constructor_arguments_raise_config_error(make, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make()


def test_missing_field_listed_in_a_field_list_is_reported():
    with pytest.raises(KeyError, match="lists 'mask'"):
        RandomFlip(p=1.0)(dict(img=np.zeros((2, 2)), mask_fields=["mask"]), sample_rng())


def test_registered_user_transform_is_built_from_config():
    @TRANSFORM_REGISTRY.register()
    class _TestOnlyInvert:
        def __call__(self, results, rng=None):
            results["img"] = 255 - results["img"]
            return results

    try:
        pipeline = build_transforms([dict(name="_TestOnlyInvert")])
        assert pipeline(dict(img=np.zeros((1, 1), np.uint8)))["img"][0, 0] == 255
    finally:
        TRANSFORM_REGISTRY._obj_map.pop("_TestOnlyInvert")
