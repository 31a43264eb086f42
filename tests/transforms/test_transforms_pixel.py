"""Specification of the pixel (colour) transforms of the seed's data_aug.md.

Each transform: p=0 leaves the sample untouched; p=1 changes the colour fields and
nothing else (the mask, even when listed in color_fields, a second image field that is
not a colour field, boxes and points keep their values); where cheap, the output equals a
hand-written reference (the formula, or the plain OpenCV/numpy call).
"""
import warnings

import cv2
import numpy as np
import pytest

from engine.transforms import build_transforms
from engine.transforms import functional as F
from engine.transforms.color import RandomColorJitter
from engine.transforms.filters import (RandomCLAHE, RandomCompress, RandomGaussianBlur,
                                       RandomGaussianNoise, RandomSharpen)
from engine.transforms.formatting import Normalize
from engine.transforms.photometric import (RandomBrightness, RandomBrightnessContrast,
                                           RandomContrast, RandomGamma, RandomHue,
                                           RandomSaturation, RandomToneCurve, ToGray)
from engine.utils.errors import ConfigError

H, W = 24, 32


def image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def sample():
    mask = np.zeros((H, W), np.uint8)
    mask[4:12, 6:20] = 3
    return dict(img=image(), depth=image(1), mask=mask,
                bbox=np.array([[6, 4, 20, 12]], np.float32),
                pts=np.array([[10.5, 8.5]], np.float32),
                img_fields=["img", "depth", "mask"], color_fields=["img", "mask"])


def run(t, results=None, seed=0):
    return t(sample() if results is None else results, np.random.default_rng(seed))


def lut_ref(img, curve):
    return np.clip(np.rint(curve(np.arange(256, dtype=np.float64))), 0, 255).astype(np.uint8)[img]


# name -> (constructor kwargs for a sure change, reference function of the image or None)
CASES = {
    "RandomBrightness": (dict(brightness_limit=[1.5, 1.5]),
                         lambda im: lut_ref(im, lambda x: x * 1.5)),
    "RandomContrast": (dict(contrast_limit=[0.5, 0.5]), None),
    "RandomSaturation": (dict(saturation_limit=[0.0, 0.0]), F.to_gray),
    "RandomHue": (dict(hue_limit=[0.25, 0.25]), None),
    "RandomGamma": (dict(gamma_limit=[2.0, 2.0]),
                    lambda im: lut_ref(im, lambda x: 255 * (x / 255) ** 2)),
    "RandomBrightnessContrast": (dict(brightness_limit=[0.1, 0.1], contrast_limit=[0.2, 0.2]),
                                 lambda im: lut_ref(im, lambda x: x * 1.2 + 25.5)),
    "RandomToneCurve": (dict(scale=0.3), None),
    "ToGray": (dict(), None),
    "RandomGaussianBlur": (dict(blur_limit=[5, 5], sigma_limit=[1.5, 1.5]),
                           lambda im: cv2.GaussianBlur(im, (5, 5), 1.5)),
    "RandomSharpen": (dict(alpha=[1.0, 1.0], lightness=[1.0, 1.0]),
                      lambda im: cv2.filter2D(im, -1, np.array(
                          [[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], np.float32))),
    "RandomCLAHE": (dict(clip_limit=[4.0, 4.0], tile_grid_size=4), None),
    "RandomCompress": (dict(quality_lower=10, quality_upper=10),
                       lambda im: cv2.imdecode(cv2.imencode(
                           ".jpg", im, (cv2.IMWRITE_JPEG_QUALITY, 10))[1], cv2.IMREAD_UNCHANGED)),
    "RandomGaussianNoise": (dict(std_limit=[0.1, 0.1]), None),
    "RandomColorJitter": (dict(brightness_p=1, contrast_p=1, saturation_p=1, hue_p=1,
                               blur_p=1, gamma_p=1, clahe_p=1), None),
}


def build(name, **kwargs):
    return build_transforms([dict(name=name, **kwargs)])


def jitter_p(kwargs, p):
    return {k: (p if k.endswith("_p") else v) for k, v in kwargs.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_p0_leaves_the_sample_untouched(name):
    kwargs, _ = CASES[name]
    kwargs = jitter_p(kwargs, 0.0) if name == "RandomColorJitter" else dict(kwargs, p=0.0)
    before, out = sample(), run(build(name, **kwargs))
    for key in ("img", "depth", "mask", "bbox", "pts"):
        assert np.array_equal(out[key], before[key]), key


@pytest.mark.parametrize("name", sorted(CASES))
def test_p1_changes_the_colour_fields_only(name):
    kwargs, reference = CASES[name]
    kwargs = kwargs if name == "RandomColorJitter" else dict(kwargs, p=1.0)
    before, out = sample(), run(build(name, **kwargs))
    assert out["img"].dtype == np.uint8 and out["img"].shape == (H, W, 3)
    assert not np.array_equal(out["img"], before["img"])
    for key in ("depth", "mask", "bbox", "pts"):
        assert np.array_equal(out[key], before[key]), f"{name} changed {key}"
    if reference is not None:
        np.testing.assert_array_equal(out["img"], reference(before["img"]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_rng_seed_same_output_and_one_draw_for_all_colour_fields(name):
    kwargs, _ = CASES[name]
    t = build(name, **(jitter_p(kwargs, 0.5) if name == "RandomColorJitter"
                       else dict(kwargs, p=0.5)))
    pair = dict(img=image(), img2=image(), color_fields=["img", "img2"])
    outs = [run(t, dict(pair), seed=s) for s in (3, 3)]
    assert np.array_equal(outs[0]["img"], outs[1]["img"])
    assert np.array_equal(outs[0]["img"], outs[0]["img2"])


def test_contrast_blends_with_the_mean_grey_level():
    img = image()
    mean = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64).mean()
    ref = np.clip(np.rint(img * 0.5 + 0.5 * mean), 0, 255)
    assert np.abs(F.adjust_contrast(img, 0.5).astype(int) - ref).max() <= 1


def test_brightness_by_mean_shifts_by_alpha_beta_mean():
    img = image()
    t = RandomBrightnessContrast(brightness_limit=[0.1, 0.1], contrast_limit=[0.2, 0.2],
                                 brightness_by_max=False, p=1)
    out = t(dict(img=img), np.random.default_rng(0))["img"]
    shift = 1.2 * 0.1 * img.astype(np.float64).mean()
    assert np.abs(out.astype(int) - np.clip(np.rint(img * 1.2 + shift), 0, 255)).max() <= 1


def test_single_number_limits_follow_the_seed():
    assert RandomBrightness(0.3).brightness_limit == pytest.approx((0.7, 1.3))
    assert RandomBrightness(1.5).brightness_limit == pytest.approx((0.0, 2.5))  # clipped at 0
    assert RandomHue(0.2).hue_limit == pytest.approx((-0.2, 0.2))
    assert RandomBrightnessContrast(0.2, 0.3).contrast_limit == pytest.approx((-0.3, 0.3))
    assert RandomCLAHE(3.0).clip_limit == pytest.approx((1.0, 3.0))
    assert RandomCLAHE(tile_grid_size=4).tile_grid_size == (4, 4)
    assert RandomGaussianBlur(7, 2.0).blur_limit == (0, 7)
    assert RandomGaussianBlur(7, 2.0).sigma_limit == pytest.approx((0.0, 2.0))
    assert RandomSharpen(0.4, 0.8).alpha == pytest.approx((0.0, 0.4))
    assert RandomCompress(10, 30, 10).qualities == [10, 20, 30]  # upper end included


def test_hue_quarter_turn_moves_red_towards_green():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    out = RandomHue(hue_limit=[1 / 3, 1 / 3], p=1)(dict(img=red), np.random.default_rng(0))
    assert out["img"][0, 0].argmax() == 1


def test_tone_curve_with_control_points_at_thirds_is_the_identity_and_a_point_op():
    img = image()
    assert np.array_equal(F.move_tone_curve(img, 1 / 3, 2 / 3), img)
    out = run(RandomToneCurve(scale=0.3, p=1))["img"]
    for v in np.unique(image())[:20]:  # equal inputs map to equal outputs
        assert len(np.unique(out[image() == v])) == 1


def test_to_gray_gives_three_equal_channels_with_601_weights():
    out = run(ToGray())["img"]
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    np.testing.assert_array_equal(out[..., 0], cv2.cvtColor(image(), cv2.COLOR_RGB2GRAY))


def test_clahe_equalises_lab_lightness():
    img = image()
    out = RandomCLAHE(clip_limit=[2.0, 2.0], tile_grid_size=[4, 4], p=1)(
        dict(img=img), np.random.default_rng(0))["img"]
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(2.0, (4, 4)).apply(np.ascontiguousarray(lab[..., 0]))
    np.testing.assert_array_equal(out, cv2.cvtColor(lab, cv2.COLOR_LAB2RGB))
    gray = img[..., :1].copy()
    assert F.clahe(gray, 2.0, (4, 4)).shape == (H, W, 1)


def test_webp_compression_and_blur_kernel_from_sigma():
    img = image()
    webp = RandomCompress(50, 50, compression_type="webp", p=1)
    out = webp(dict(img=img), np.random.default_rng(0))
    ref = cv2.imdecode(cv2.imencode(".webp", img, (cv2.IMWRITE_WEBP_QUALITY, 50))[1], -1)
    np.testing.assert_array_equal(out["img"], ref)
    blur = RandomGaussianBlur(blur_limit=0, sigma_limit=[1.0, 1.0], p=1)
    assert blur._sizes == [0]
    out = blur(dict(img=img), np.random.default_rng(0))["img"]
    np.testing.assert_array_equal(out, cv2.GaussianBlur(img, (0, 0), 1.0))


def test_grey_noise_is_the_same_on_every_channel():
    img = np.full((H, W, 3), 128, np.uint8)
    out = RandomGaussianNoise(std_limit=[0.05, 0.05], per_channel=False, p=1)(
        dict(img=img), np.random.default_rng(0))["img"]
    assert np.array_equal(out[..., 0], out[..., 2]) and out.std() > 5
    out = RandomGaussianNoise(std_limit=[0.05, 0.05], p=1)(dict(img=img), np.random.default_rng(0))
    assert not np.array_equal(out["img"][..., 0], out["img"][..., 2])


def test_float_images_stay_float_and_in_range():
    img = image().astype(np.float32) / 255
    for t in (RandomBrightness([2, 2], p=1), RandomContrast([1.5, 1.5], p=1),
              RandomGamma([0.5, 0.5], p=1), RandomSaturation([2, 2], p=1),
              RandomBrightnessContrast([0.3, 0.3], [0.5, 0.5], p=1),
              RandomToneCurve(0.2, p=1), RandomGaussianNoise([0.2, 0.2], p=1),
              RandomSharpen(p=1)):
        out = t(dict(img=img.copy()), np.random.default_rng(0))["img"]
        assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1, t


# ---------------------------------------------------------------- Normalize


def test_normalize_defaults_are_the_seeds_and_match_numpy():
    img = image()
    out = Normalize()(sample())
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    assert out["img"].dtype == np.float32
    np.testing.assert_allclose(out["img"], (img - mean) / std, rtol=1e-6, atol=1e-6)
    assert np.array_equal(out["mask"], sample()["mask"])
    assert out["img_norm_cfg"]["mean"] == pytest.approx(mean.tolist())


def test_normalize_one_channel_scalar_stats_float_input_and_bgr():
    gray = image()[..., 0]
    np.testing.assert_allclose(F.normalize(gray, 100, 50), (gray - 100.0) / 50, rtol=1e-6)
    imgf = image().astype(np.float32)
    np.testing.assert_allclose(F.normalize(imgf, [1, 2, 3], [2, 2, 2]), (imgf - [1, 2, 3]) / 2,
                               rtol=1e-6)
    bgr = image()
    np.testing.assert_allclose(F.normalize(bgr, [1, 2, 3], [4, 5, 6], to_rgb=True),
                               (bgr[..., ::-1] - np.array([1, 2, 3])) / [4, 5, 6], rtol=1e-6)


def test_normalize_is_the_float32_subtraction_then_division_bit_for_bit():
    # the device-side normalisation (data/device_batches.py) does these two float32 ops:
    # the host's result must be the same bits, whatever the layout and dtype of the image
    rng = np.random.default_rng(0)
    mean, std = np.float32([123.675, 116.28, 103.53]), np.float32([58.395, 57.12, 57.375])
    base = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for img in (base, base[:, ::-1], base[::-1], base[5:30, 7:40], base.astype(np.float64) / 3):
        expected = (img.astype(np.float32) - mean) / std
        out = F.normalize(img, mean, std)
        assert out.dtype == np.float32 and out.shape == img.shape
        assert np.array_equal(out, expected)
    gray = base[..., 0]
    assert np.array_equal(F.normalize(gray, 100, 50), (gray.astype(np.float32) - np.float32(100)) / np.float32(50))
    before = base.copy()
    F.normalize(base, mean, std)
    assert np.array_equal(base, before)  # the input is never written
    flipped = (base.astype(np.float64) / 3)[:, ::-1]
    assert np.array_equal(F.normalize(flipped, mean, std), (flipped.astype(np.float32) - mean) / std)
    row = base[0, :, 0]  # a 1-D array is one row
    assert np.array_equal(F.normalize(row, 100, 50), (row.astype(np.float32) - np.float32(100)) / np.float32(50))


def test_normalize_takes_a_read_only_image_without_a_warning():
    # np.asarray(PIL image) is read-only; torch warns when it wraps such an array
    img = np.random.default_rng(1).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    img.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.normalize(img, [1, 2, 3], [4, 5, 6])
    assert out.flags.writeable and np.array_equal(out, (img.astype(np.float32) - np.float32([1, 2, 3]))
                                                  / np.float32([4, 5, 6]))


# ---------------------------------------------------------------- RandomColorJitter


class Recorder:
    def __init__(self, i, log):
        self.i, self.log = i, log

    def __call__(self, results, rng):
        self.log.append(self.i)
        return results


def test_color_jitter_runs_all_seven_ops_in_a_seeded_random_order():
    j = RandomColorJitter()
    orders = []
    for seed in (0, 1, 2, 3, 0):
        log = []
        j.jitter = [Recorder(i, log) for i in range(7)]
        j(dict(img=image()), np.random.default_rng(seed))
        assert sorted(log) == list(range(7))
        orders.append(tuple(log))
    assert orders[0] == orders[4] and len(set(orders)) > 1


def test_color_jitter_takes_the_seeds_blur_and_clahe_keys():
    j = RandomColorJitter(blur_limit=[3, 5], sigma_limit=[1, 2], clahe_limit=[2, 3], clahe_p=0.7)
    assert j.jitter[4].sigma_limit == (1.0, 2.0) and j.jitter[4]._sizes == [3, 5]
    assert j.jitter[6].clip_limit == (2.0, 3.0) and j.jitter[6].p == 0.7
    assert j.clahe_limit == (2.0, 3.0) and j.sigma_limit == (1.0, 2.0)


# ---------------------------------------------------------------- bad configuration


@pytest.mark.parametrize("entry, pattern", [
    (dict(name="RandomCompress", compression_type="png"),
     r"transformer\[0\]: RandomCompress: unknown compression_type 'png'"),
    (dict(name="RandomCompress", quality_lower=0, compression_type="webp"),
     r"quality_lower must be an int in \[1, 100\] for webp"),
    (dict(name="RandomCompress", quality_lower=90, quality_upper=80), r"must not exceed"),
    (dict(name="RandomGamma", gamma_limit=0.5), r"RandomGamma: gamma_limit=0.5.*pair"),
    (dict(name="RandomHue", hue_limit=0.7), r"RandomHue: hue_limit.*\[-0.5, 0.5\]"),
    (dict(name="RandomBrightness", brightness_limit=-0.1), r"non-negative"),
    (dict(name="RandomCLAHE", tile_grid_size=[8]), r"tile_grid_size must be"),
    (dict(name="RandomGaussianBlur", blur_limit=[4, 4]), r"blur_limit.*no odd kernel"),
    (dict(name="RandomSharpen", alpha=[0.5, 1.5]), r"alpha must be a pair.*\[0.0, 1.0\]"),
    (dict(name="RandomToneCurve", scale=2), r"scale must be a number in \[0, 1\]"),
    (dict(name="RandomBrightnessContrast", brightness_by_max="yes"), r"brightness_by_max"),
    (dict(name="RandomGaussianNoise", std_limit=[0.1, 2]), r"std_limit"),
    (dict(name="ToGray", p=2), r"ToGray: p must be a probability"),
    (dict(name="RandomColorJitter", clahe_p=1.5), r"RandomColorJitter: clahe_p"),
    (dict(name="RandomColorJitter", clahe_limit=[3, 1]),
     r"RandomColorJitter: RandomCLAHE: clip_limit.*min <= max"),
    (dict(name="Normalize", std=[1, 0, 1]), r"std must be .*non-zero"),
])
def test_bad_config_raises_config_error_naming_the_entry(entry, pattern):
    with pytest.raises(ConfigError, match=r"transformer\[0\]"):
        build_transforms([entry])
    with pytest.raises(ConfigError, match=pattern):
        build_transforms([entry])


def test_linear_point_ops_match_the_formula_on_both_opencv_paths():
    img = image()
    for alpha, beta in ((1.5, 0.0), (0.7, 30.2), (1.3, -40.7), (0.0, 12.0)):
        ref = np.clip(np.rint(img * alpha + beta), 0, 255)
        diff = np.abs(F.linear(img, alpha, beta).astype(int) - ref)
        # OpenCV computes in float32: values within float32 error of a .5 tie may round
        # the other way (off by one); nothing else differs.
        assert diff.max() <= 1 and (diff == 0).mean() > 0.95, (alpha, beta)
    assert F.linear(img[..., :1], 2.0, -5.0).shape == (H, W, 1)


JITTER_OPS = ("brightness", "contrast", "saturation", "hue", "blur", "gamma", "clahe")


@pytest.mark.parametrize("op", JITTER_OPS)
def test_each_jitter_probability_switches_its_own_op(op):
    probs = {f"{o}_p": 0.0 for o in JITTER_OPS}
    off = RandomColorJitter(**probs)(sample(), np.random.default_rng(0))
    assert np.array_equal(off["img"], image())
    on = RandomColorJitter(**dict(probs, **{f"{op}_p": 1.0}))(sample(), np.random.default_rng(0))
    assert not np.array_equal(on["img"], image()) and np.array_equal(on["mask"], sample()["mask"])


def test_jitter_limits_reach_their_transforms():
    j = RandomColorJitter(brightness_limit=[0.5, 0.6], contrast_limit=0.3, saturation_limit=[1, 2],
                          hue_limit=0.05, gamma_limit=[1.1, 1.3])
    assert j.jitter[0].brightness_limit == (0.5, 0.6)
    assert j.jitter[1].contrast_limit == pytest.approx((0.7, 1.3))
    assert j.jitter[2].saturation_limit == (1.0, 2.0)
    assert j.jitter[3].hue_limit == pytest.approx((-0.05, 0.05))
    assert j.jitter[5].gamma_limit == (1.1, 1.3)


def test_clahe_on_a_float_image_says_where_to_put_it():
    with pytest.raises(TypeError, match="RandomCLAHE needs uint8.*before Normalize"):
        RandomCLAHE(p=1)(dict(img=np.zeros((8, 8, 3), np.float32)), np.random.default_rng(0))
