"""The seed's transform names and functional helpers, each against an independent
computation on small arrays (numpy formulas, naive loops, the raw OpenCV call).

The pipeline rules (masks by any name, Normalize on colour fields, Mosaic through the
seed's module, a plain Dataset) are in test_seed_transforms_pipeline.py.
"""
import importlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

import engine.transforms.functional as F
from conftest import ROOT

SEED_HELPERS = (
    "adjust_brightness adjust_contrast adjust_hue adjust_saturation blur "
    "brightness_contrast_adjust check_values clahe clip convolve defocus denormalize "
    "find_inside_bboxes find_inside_pts from_float gamma_transform gaussian_blur glass_blur "
    "image_compression imflip is_grayscale_image is_rgb_image is_rgba_image median_blur "
    "move_tone_curve normalize pad range_float to_float to_gray to_tensor to_tuple").split()
SEED_CLASSES = (
    "RandomAffine RandomFlip Resize RandomResize RandomCrop RandomToneCurve "
    "RandomBrightnessContrast RandomGaussianBlur ToGray Normalize RandomColorJitter "
    "RandomBrightness RandomContrast RandomSaturation RandomHue RandomGamma RandomCLAHE "
    "RandomCompress RandomSharpen Pad32").split()


def img(shape=(6, 7, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def correlate(a, kernel, mode="reflect"):
    """Naive 2-D correlation, anchor at the kernel centre, per channel; numpy's 'reflect'
    padding is OpenCV's default BORDER_REFLECT_101."""
    kh, kw = kernel.shape
    src = a.astype(np.float64).reshape(a.shape[0], a.shape[1], -1)
    padded = np.pad(src, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)), mode=mode)
    out = np.zeros_like(src)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[i:i + a.shape[0], j:j + a.shape[1]]
    return out.reshape(a.shape)


# ------------------------------------------------------------------ names


def test_every_seed_name_imports_from_the_seeds_modules():
    functional = importlib.import_module("engine.transforms.functional")
    assert [n for n in SEED_HELPERS if not callable(getattr(functional, n, None))] == []
    assert set(SEED_HELPERS) <= set(functional.__all__)
    from engine.compat.seed.transforms_pipe import TransformCompose as Pipe
    from engine.transforms import BUILD_TRANSFORMER_REGISTRY, TRANSFORM_REGISTRY, TransformCompose
    from engine.transforms.build import build_transformer
    from engine.transforms.mix_transforms import BaseMixTransform, MosaicTransform, Resize
    from engine.transforms.mosaic import MosaicTransform as Ours
    assert TransformCompose is Pipe and BUILD_TRANSFORMER_REGISTRY is TRANSFORM_REGISTRY
    assert MosaicTransform is Ours and callable(BaseMixTransform) and callable(Resize)
    star = {}
    exec("from engine.transforms import *", star)
    missing = [n for n in SEED_CLASSES + ["TransformCompose", "BUILD_TRANSFORMER_REGISTRY",
                                          "MosaicTransform"] if n not in star]
    assert missing == []
    assert type(build_transformer("Resize", target_size=8)) is star["Resize"]
    with pytest.raises(Exception, match=r"build_transformer\('Resize'\).*target_sise"):
        build_transformer("Resize", target_sise=8)
    assert F.INTER_CV_TYPE["INTER_NEAREST"] == cv2.INTER_NEAREST
    assert F.MAX_VALUES_BY_DTYPE[np.dtype("uint16")] == 65535


@pytest.mark.parametrize("module", ["engine.compat.seed.transforms_functional",
                                    "engine.compat.seed.mix_transforms"])
def test_a_seed_module_imported_first_has_no_import_cycle(module):
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=120, cwd=ROOT)


# ------------------------------------------------------------------ point operations


def test_brightness_contrast_saturation_against_formulas():
    x = img()
    np.testing.assert_array_equal(F.adjust_brightness(x, 1.3), u8(x * np.float32(1.3)))
    xf = x.astype(np.float32) / 255
    np.testing.assert_allclose(F.adjust_brightness(xf, 1.3), np.clip(xf * 1.3, 0, 1), atol=1e-6)
    grey_mean = (x.astype(np.float64) @ [0.299, 0.587, 0.114]).mean()
    np.testing.assert_array_equal(F.adjust_contrast(x, 0.6), u8(x * 0.6 + grey_mean * 0.4))
    grey = np.repeat(u8(x.astype(np.float64) @ [0.299, 0.587, 0.114])[..., None], 3, axis=2)
    got = F.adjust_saturation(x, 0.5, gamma=10).astype(int)
    assert np.abs(got - u8(0.5 * x + 0.5 * grey + 10)).max() <= 1
    g = img((5, 5))
    assert F.adjust_saturation(g, 0.3) is not g and np.array_equal(F.adjust_saturation(g, 0.3), g)


@pytest.mark.parametrize("by_max", [False, True])
def test_brightness_contrast_adjust_against_a_formula(by_max):
    x = img()
    shift = 0.1 * 255 if by_max else 1.2 * 0.1 * x.mean()
    np.testing.assert_array_equal(F.brightness_contrast_adjust(x, 1.2, 0.1, by_max),
                                  u8(1.2 * x.astype(np.float64) + shift))
    xf = x.astype(np.float32) / 255
    out = F.brightness_contrast_adjust(xf, alpha=1.5, beta=0.2)
    ref = np.clip(1.5 * xf + 1.5 * 0.2 * xf.mean(), 0, 1)
    assert out.dtype == np.float32 and np.allclose(out, ref, atol=1e-6)


def test_hue_against_float_hsv_and_periodic():
    x = img((4, 5, 3), seed=3)
    hsv = cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + 0.2 * 360) % 360
    ref = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255
    assert np.abs(F.adjust_hue(x, 0.2).astype(float) - ref).max() <= 8
    np.testing.assert_array_equal(F.adjust_hue(x, 1.2), F.adjust_hue(x, 0.2))
    np.testing.assert_allclose(F.adjust_hue(x.astype(np.float32) / 255, 0.2), ref / 255, atol=1e-5)


def test_gamma_tone_curve_grey_and_clahe():
    x = img()
    np.testing.assert_array_equal(F.gamma_transform(x, 1.7), u8(255 * (x / 255.0) ** 1.7))
    t = x / 255.0
    curve = 3 * (1 - t) ** 2 * t * 0.4 + 3 * (1 - t) * t ** 2 * 0.7 + t ** 3
    np.testing.assert_array_equal(F.move_tone_curve(x, 0.4, 0.7), u8(curve * 255))
    grey = x.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.abs(F.to_gray(x).astype(float) - grey[..., None]).max() <= 0.51
    big = img((32, 32, 3), seed=5)
    op = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4))
    lab = cv2.cvtColor(big, cv2.COLOR_RGB2LAB)
    lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
    np.testing.assert_array_equal(F.clahe(big, 3.0, (4, 4)), cv2.cvtColor(lab, cv2.COLOR_LAB2RGB))
    np.testing.assert_array_equal(F.clahe(big[..., 0], 3.0, (4, 4)), op.apply(big[..., 0]))


def test_normalize_denormalize_and_dtype_helpers():
    x = img()
    mean, std = np.array([120.0, 110, 100]), np.array([60.0, 50, 40])
    n = F.normalize(x, mean, std)
    np.testing.assert_allclose(n, (x - mean) / std, rtol=1e-6)
    before = n.copy()
    np.testing.assert_allclose(F.denormalize(n, mean, std), x, atol=1e-4)
    assert np.array_equal(n, before)  # a new array, the input kept
    np.testing.assert_allclose(F.to_float(x), x / 255.0, rtol=1e-6)
    np.testing.assert_allclose(F.to_float(x, max_value=100.0), x / 100.0, rtol=1e-6)
    np.testing.assert_array_equal(F.from_float(F.to_float(x), np.uint8), x)
    f = np.array([[-0.01, 0.4999, 0.999, 1.2]], np.float32)
    np.testing.assert_array_equal(F.from_float(f, np.dtype("uint8")), [[0, 127, 255, 255]])
    np.testing.assert_array_equal(F.clip(np.array([-3.0, 4.6, 300]), np.uint8, 255), [0, 4, 255])
    with pytest.raises(RuntimeError, match="max_value"):
        F.to_float(np.zeros(2, np.int8))
    for shape, grey, rgb, rgba in [((3, 3), 1, 0, 0), ((3, 3, 1), 1, 0, 0),
                                   ((3, 3, 3), 0, 1, 0), ((3, 3, 4), 0, 0, 1)]:
        a = np.zeros(shape)
        assert (F.is_grayscale_image(a), F.is_rgb_image(a), F.is_rgba_image(a)) == (grey, rgb, rgba)


def test_image_compression_and_to_tensor():
    x = img((16, 16, 3))
    for kind, flag in ((".jpg", cv2.IMWRITE_JPEG_QUALITY), (".webp", cv2.IMWRITE_WEBP_QUALITY)):
        ref = cv2.imdecode(cv2.imencode(kind, x, (int(flag), 40))[1], cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(F.image_compression(x, 40, kind), ref)
    t = F.to_tensor(x)
    assert t.dtype == torch.float32 and t.shape == (3, 16, 16)
    np.testing.assert_allclose(t.numpy(), x.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert F.to_tensor(np.full((2, 3), 7.5, np.float32)).tolist() == [[[7.5] * 3] * 2]


# ------------------------------------------------------------------ filters


def test_blur_convolve_and_gaussian_against_naive_correlation():
    x = img((7, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(F.blur(x, 3), correlate(x, np.full((3, 3), 1 / 9)), atol=1e-4)
    kernel = np.array([[0, 1, 0], [0, 0, 2], [0, 0, 0]], np.float32)  # asymmetric: no flip
    np.testing.assert_allclose(F.convolve(x, kernel), correlate(x, kernel), atol=1e-3)
    g = np.exp(-(np.arange(5) - 2) ** 2 / (2 * 1.2 ** 2))
    g = np.outer(g / g.sum(), g / g.sum())
    np.testing.assert_allclose(F.gaussian_blur(x, ksize=5, sigma=1.2), correlate(x, g), atol=1e-3)
    one = img((7, 8, 1))
    assert F.blur(one, 3).shape == (7, 8, 1) and F.gaussian_blur(one, 3).shape == (7, 8, 1)


def test_median_blur_against_a_sliding_window_median():
    x = img((7, 8))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, 1, mode="edge"), (3, 3))
    np.testing.assert_array_equal(F.median_blur(x, 3), np.median(windows, axis=(2, 3)))
    with pytest.raises(ValueError, match="3 or 5"):
        F.median_blur(x.astype(np.float32), 7)


def test_defocus_is_a_softened_disk():
    x = img((20, 20)).astype(np.float32)
    y, xx = np.mgrid[-8:9, -8:9]
    disk = (xx ** 2 + y ** 2 <= 3 ** 2).astype(np.float32)
    kernel = cv2.GaussianBlur(disk / disk.sum(), (3, 3), 0.5)
    np.testing.assert_allclose(F.defocus(x, 3, 0.5), correlate(x, kernel), atol=1e-3)


def glass_reference(x, sigma, max_delta, iterations, dxy, mode):
    out = cv2.GaussianBlur(x, (0, 0), sigma)
    rows = list(range(x.shape[0] - max_delta, max_delta, -1))
    cols = list(range(x.shape[1] - max_delta, max_delta, -1))
    k = 0
    for i in range(iterations):
        if mode == "fast":  # all at once: read everything, then write both sides
            pix = [(r, c) for c in cols for r in rows]
            new = out.copy()
            for n, (r, c) in enumerate(pix):
                new[r, c] = out[r + dxy[n, i, 0], c + dxy[n, i, 1]]
            for n, (r, c) in enumerate(pix):
                new[r + dxy[n, i, 0], c + dxy[n, i, 1]] = out[r, c]
            out = new
            continue
        for r in rows:
            for c in cols:
                dy, dx = dxy[k % len(dxy), i]
                k += 1
                a, b = out[r, c].copy(), out[r + dy, c + dx].copy()
                out[r, c], out[r + dy, c + dx] = b, a
    return cv2.GaussianBlur(out, (0, 0), sigma)


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_glass_blur_swaps_as_a_naive_loop(mode):
    x = img((9, 10, 3), seed=4)
    n = (9 - 2 * 2) * (10 - 2 * 2)
    dxy = np.random.default_rng(1).integers(-2, 2, size=(n, 2, 2))
    np.testing.assert_array_equal(F.glass_blur(x, 0.4, 2, 2, dxy, mode),
                                  glass_reference(x, 0.4, 2, 2, dxy, mode))
    with pytest.raises(ValueError, match="mode"):
        F.glass_blur(x, 0.4, 2, 2, dxy, "slow")


# ------------------------------------------------------------------ geometry


def test_imflip_pad_and_inside_checks():
    x = img((3, 4, 2))
    for direction, axes in (("horizontal", 1), ("vertical", 0), ("diagonal", (0, 1))):
        out = F.imflip(x, direction)
        assert np.array_equal(out, np.flip(x, axes)) and out.flags.c_contiguous
    with pytest.raises(ValueError):
        F.imflip(x, "sideways")
    np.testing.assert_array_equal(F.pad(x, 6), np.pad(x, ((1, 2), (1, 1), (0, 0))))
    np.testing.assert_array_equal(F.pad(x, 4, 7), np.pad(x, ((0, 1), (1, 2), (0, 0))))
    np.testing.assert_array_equal(F.pad(x, t_h=4, t_w=7), F.pad(x, 4, 7))
    np.testing.assert_array_equal(F.pad(img((5, 2)), 4), np.pad(img((5, 2)), ((0, 0), (1, 1))))
    np.testing.assert_array_equal(F.pad(x, (4, 5), 9)[3], np.full((5, 2), 9))
    boxes = np.array([[-5, 1, 0, 3], [-5, 1, 0.5, 3], [9.9, 1, 12, 3], [10, 1, 12, 3]])
    assert F.find_inside_bboxes(boxes, 8, 10).tolist() == [False, True, True, False]
    pts = torch.tensor([[0.0, 1], [0.1, 1], [9.9, 7.9], [10, 1], [3, 8]])
    assert F.find_inside_pts(pts, 8, 10).tolist() == [False, True, True, False, False]


# ------------------------------------------------------------------ argument helpers


def test_range_float_to_tuple_check_values():
    assert F.range_float(0.75, 0.95, 0.05, exclude=1.25) == [0.75, 0.8, 0.85, 0.9, 0.95]
    assert F.range_float(0.29, 0.5, 0.1, exclude=0.39) == [0.29, 0.49]
    assert F.range_float(30, 60, 10, exclude=90) == [30, 40, 50, 60]
    assert F.range_float(0.5, 1.0, 0.25, exclude=0.75) == [0.5, 1.0]
    assert F.to_tuple(0.3) == (-0.3, 0.3) and F.to_tuple(4, 1) == (1, 4)
    assert F.to_tuple(0.5, 1) == (0.5, 1) and F.to_tuple([2, 3]) == (2, 3)
    assert F.to_tuple(None) is None
    with pytest.raises(ValueError):
        F.to_tuple([1, 2, 3])
    assert F.check_values(0.2, "b") == [0.8, 1.2]
    assert F.check_values(1.5, "b") == [0, 2.5]
    assert F.check_values(0.1, "hue", offset=0, bounds=[-0.5, 0.5], clip=False) == [-0.1, 0.1]
    assert F.check_values((0.5, 1.5), "b") == (0.5, 1.5)
    with pytest.raises(ValueError):
        F.check_values((0.6, 0.7), "hue", offset=0, bounds=[-0.5, 0.5])
    with pytest.raises(ValueError):
        F.check_values(-1, "b")
    with pytest.raises(TypeError):
        F.check_values("x", "b")
