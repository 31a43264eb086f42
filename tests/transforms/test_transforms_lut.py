"""The table path of the non-linear uint8 point ops (gamma, tone curve) is the float
formula rounded: on random images, every pixel is within rounding (0.5) of the formula
evaluated in float64, and equal to its rounding half to even away from exact ties.
RandomToneCurve's draws are the ones ``np.clip(rng.normal((0.25, 0.75), scale), 0, 1)``
gives. The StringZilla lookup gives the bytes ``cv2.LUT`` gives, in every layout, and
leaves its input alone."""
import cv2
import numpy as np
import pytest

from engine.transforms import RandomToneCurve
from engine.transforms import functional as F
from engine.transforms.functional_lut import (apply_lut, gamma_table, to_table, tone_curve_table,
                                              translate_u8)

SHAPES = [(37, 53), (37, 53, 1), (37, 53, 3), (16, 16, 4)]


def _images(seed):
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        yield rng.integers(0, 256, shape, dtype=np.uint8)
    every_level = np.arange(256, dtype=np.uint8).reshape(16, 16)
    yield every_level
    yield np.dstack([every_level] * 3)[:, ::-1, 1:]  # not contiguous, 2 channels


def _check_rounded(out, x, ref):
    ref = np.clip(ref, 0.0, 255.0)
    assert out.dtype == np.uint8 and out.shape == x.shape
    diff = np.abs(out.astype(np.float64) - ref)
    assert diff.max() <= 0.5 + 1e-9
    tie = np.abs(ref - np.floor(ref) - 0.5) < 1e-9
    assert np.array_equal(out[~tie], np.rint(ref[~tie]).astype(np.uint8))


@pytest.mark.parametrize("seed", range(6))
def test_gamma_table_is_the_rounded_float_formula(seed):
    rng = np.random.default_rng(100 + seed)
    for x in _images(seed):
        gamma, gain = float(rng.uniform(0.2, 5.0)), float(rng.choice([0.5, 1.0, 1.3]))
        ref = 255.0 * gain * (x.astype(np.float64) / 255.0) ** gamma
        _check_rounded(F.adjust_gamma(x, gamma, gain), x, ref)


@pytest.mark.parametrize("seed", range(6))
def test_tone_curve_table_is_the_rounded_float_formula(seed):
    rng = np.random.default_rng(200 + seed)
    for x in _images(seed):
        low, high = (float(v) for v in rng.uniform(0.0, 1.0, 2))
        t = x.astype(np.float64) / 255.0
        ref = 255.0 * (3 * (1 - t) ** 2 * t * low + 3 * (1 - t) * t ** 2 * high + t ** 3)
        _check_rounded(F.move_tone_curve(x, low, high), x, ref)


def test_tables_over_many_parameters():
    rng = np.random.default_rng(11)
    t = np.arange(256) / 255.0
    for gamma, gain in zip(rng.uniform(0.05, 10.0, 300), rng.uniform(0.0, 2.0, 300)):
        _check_rounded(gamma_table(gamma, gain), t, 255.0 * gain * t ** gamma)
    for low, high in rng.uniform(0.0, 1.0, (300, 2)):
        ref = 255.0 * (3 * (1 - t) ** 2 * t * low + 3 * (1 - t) * t ** 2 * high + t ** 3)
        _check_rounded(tone_curve_table(low, high), t, ref)


def test_to_table_rounds_half_to_even_and_saturates_as_numpy_does():
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32):
        for _ in range(200):
            v = rng.uniform(-400, 700, 256)
            ties = rng.integers(0, 256, 40)
            v[ties] = np.floor(v[ties]) + 0.5
            v[:4] = [-0.5, -0.7, 254.5, 255.5]
            v = v.astype(dtype)
            assert np.array_equal(to_table(v), np.clip(np.rint(v), 0, 255).astype(np.uint8))


def test_tables_at_the_identity_and_the_ends():
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(gamma_table(1.0), levels)
    assert np.array_equal(tone_curve_table(1 / 3, 2 / 3), levels)
    for table in (gamma_table(0.3), gamma_table(4.0), tone_curve_table(0.0, 1.0),
                  tone_curve_table(1.0, 0.0)):
        assert table.dtype == np.uint8 and table.shape == (256,)
        assert table[0] == 0 and table[255] == 255
    assert gamma_table(1.0, gain=2.0)[200] == 255  # saturated, not wrapped


def test_uint8_and_float_paths_agree_within_rounding():
    x = np.random.default_rng(7).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    xf = x.astype(np.float32) / 255
    for out, ref in ((F.adjust_gamma(x, 1.7), F.adjust_gamma(xf, 1.7)),
                     (F.move_tone_curve(x, 0.1, 0.9), F.move_tone_curve(xf, 0.1, 0.9))):
        assert np.abs(out.astype(np.float64) - 255.0 * ref).max() <= 0.5 + 1e-3


@pytest.mark.parametrize("scale", [0.0, 0.1, 0.5, 1.0])
def test_tone_curve_draws_are_the_clipped_normal_draws(scale):
    transform = RandomToneCurve(scale=scale, p=1.0)
    for seed in range(200):
        ours = transform.sample_params({}, np.random.default_rng(seed))
        low, high = np.clip(np.random.default_rng(seed).normal((0.25, 0.75), scale), 0.0, 1.0)
        assert (ours["low_y"], ours["high_y"]) == (float(low), float(high))
        assert type(ours["low_y"]) is float and type(ours["high_y"]) is float


def _layouts(rng):
    """2-D and 1-4 channel images, contiguous and not (flipped, strided, a channel slice,
    transposed, a column), plus a read-only one and an empty one."""
    for shape in [(37, 53), (480, 640), (37, 53, 1), (37, 53, 2), (40, 64, 3), (16, 17, 4)]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        yield from (x, x[:, ::-1], x[::2, 1::3], x.swapaxes(0, 1), x[5:6], x[:, 7:8])
        if x.ndim == 3 and x.shape[2] > 1:
            yield x[:, :, 1:]
            yield x[:, :, :1]
    frozen = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    frozen.setflags(write=False)
    yield frozen
    yield np.zeros((0, 5, 3), np.uint8)


def _cv2_lut(x, table):
    out = cv2.LUT(x, table) if x.size else np.empty(x.shape, np.uint8)
    return out[:, :, None] if x.ndim == 3 and out.ndim == 2 else out


@pytest.mark.parametrize("seed", range(3))
def test_translate_is_cv2_lut_byte_for_byte_and_leaves_the_input(seed):
    rng = np.random.default_rng(300 + seed)
    for x in _layouts(rng):
        table = rng.integers(0, 256, 256, dtype=np.uint8)
        before = x.copy()
        for out in (translate_u8(x, table), apply_lut(x, table), apply_lut(x, table[:, None])):
            assert out.shape == x.shape and out.dtype == np.uint8
            assert np.array_equal(out, _cv2_lut(x, table)), (x.shape, x.strides)
            assert out.flags.c_contiguous and out.flags.writeable
            assert not np.shares_memory(out, x)
        assert np.array_equal(x, before)


def test_the_uint8_ops_are_their_table_through_cv2_lut():
    rng = np.random.default_rng(17)
    for x in _layouts(rng):
        if x.size == 0:
            continue
        gamma, low, high = rng.uniform(0.3, 3.0), *rng.uniform(0.0, 1.0, 2)
        assert np.array_equal(F.adjust_gamma(x, gamma), _cv2_lut(x, gamma_table(gamma)))
        assert np.array_equal(F.move_tone_curve(x, low, high),
                              _cv2_lut(x, tone_curve_table(low, high)))


@pytest.mark.parametrize("factor", [0.1, 0.5, -0.3, 0.77, 1.25])
def test_hue_shift_through_its_channel_table_is_the_full_table(factor):
    x = np.random.default_rng(5).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    table = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    table[:, 0] = (np.arange(256) + int(round(factor * 256))) % 256
    hsv = cv2.LUT(cv2.cvtColor(x, cv2.COLOR_RGB2HSV_FULL), table.reshape(256, 1, 3))
    before = x.copy()
    assert np.array_equal(F.adjust_hue(x, factor), cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL))
    assert np.array_equal(x, before)
