"""The per-call fast paths of issue 23 give what the slow ones gave: the field roles
cached per results layout, ``TransformCompose`` drawing from NumPy's global stream, the
uint8 linear point op without ``addWeighted``, strided nearest-neighbour mask resizes
and ``uniform``."""
import itertools

import cv2
import numpy as np
import pytest

from engine.transforms import Compose, TransformCompose, build_transforms
from engine.transforms import fields
from engine.transforms.base import uniform
from engine.transforms.field_roles import inferred_mask_keys
from engine.transforms.functional_color import linear
from engine.transforms.functional_spatial import resize_nearest


# ------------------------------------------------------------------ roles, as before


def _listed(results, list_name, default_key):
    """The uncached rule (the engine's until issue 23)."""
    if list_name in results and results[list_name] is not None:
        keys = list(results[list_name])
    else:
        keys = [default_key] if default_key in results else []
    for key in keys:
        if key not in results:
            raise KeyError(f"results['{list_name}'] lists '{key}'")
    return keys


def _reference(results):
    out = {}
    for name, fn in (("masks", _ref_masks), ("geometric", _ref_geometric),
                     ("colors", _ref_colors), ("images", _ref_images)):
        try:
            out[name] = fn(results)
        except KeyError as e:
            out[name] = ("KeyError", str(e).split("'")[1:4])
    return out


def _ref_masks(results):
    keys = _listed(results, "mask_fields", "mask")
    return keys + [k for k in inferred_mask_keys(results) if k not in keys]


def _ref_images(results):
    masks = set(_ref_masks(results))
    return [k for k in _listed(results, "img_fields", "img") if k not in masks]


def _ref_geometric(results):
    masks = _ref_masks(results)
    images = [(k, False) for k in _listed(results, "img_fields", "img") if k not in masks]
    return images + [(k, True) for k in masks]


def _ref_colors(results):
    masks = set(_ref_masks(results))
    return [k for k in _listed(results, "color_fields", "img") if k not in masks]


def _engine(results):
    out = {}
    for name, fn in (("masks", fields.mask_keys), ("geometric", fields.geometric_keys),
                     ("colors", fields.color_keys), ("images", fields.image_keys)):
        try:
            out[name] = fn(results)
        except KeyError as e:
            out[name] = ("KeyError", str(e).split("'")[1:4])
    return out


ARRAYS = {
    "rgb": np.zeros((4, 5, 3), np.uint8),
    "label": np.zeros((4, 5), np.uint8),
    "label1": np.zeros((4, 5, 1), np.int32),
    "float": np.zeros((4, 5), np.float32),
}


def _layouts():
    rng = np.random.default_rng(0)
    names = ["img", "mask", "gt_semantic_seg", "ref", "depth"]
    for _ in range(150):  # under the cache's 256 layouts, so that the swaps hit it
        results = {k: ARRAYS[rng.choice(list(ARRAYS))] for k in names if rng.random() < 0.7}
        for list_name in ("img_fields", "mask_fields", "color_fields"):
            if rng.random() < 0.6:  # sometimes naming a key that is not there
                results[list_name] = [k for k in names if rng.random() < 0.4]
            elif rng.random() < 0.2:
                results[list_name] = None
        if rng.random() < 0.4:
            results["interpolation"] = {k: rng.choice(["INTER_NEAREST", "INTER_LINEAR", None])
                                        for k in names if rng.random() < 0.5}
        yield results


def test_cached_roles_are_the_uncached_ones_whatever_the_layout():
    layouts = list(_layouts())
    rng = np.random.default_rng(1)
    swapped = [{k: ARRAYS[rng.choice(list(ARRAYS))] if isinstance(v, np.ndarray) else v
                for k, v in r.items()} for r in layouts]  # same lists, other arrays
    for results in itertools.chain(layouts, swapped, layouts):  # then from the cache
        assert _engine(results) == _reference(results), results


def test_the_cache_sees_a_field_become_a_label_map_under_the_same_lists():
    lists = dict(img_fields=["img", "seg"], color_fields=["img"])
    image = dict(img=ARRAYS["rgb"], seg=ARRAYS["float"], **lists)
    label = dict(img=ARRAYS["rgb"], seg=ARRAYS["label"], **lists)
    for _ in range(2):
        assert fields.mask_keys(image) == [] and fields.mask_keys(label) == ["seg"]
        assert fields.geometric_keys(label) == [("img", False), ("seg", True)]


def test_a_listed_key_missing_is_still_named():
    results = dict(img=ARRAYS["rgb"], img_fields=["img", "seg"])
    for _ in range(2):
        with pytest.raises(KeyError, match=r"results\['img_fields'\] lists 'seg'"):
            fields.geometric_keys(results)
        assert fields.color_keys(results) == ["img"]  # colours do not read img_fields
    with pytest.raises(KeyError, match=r"results\['bbox_fields'\] lists 'boxes'"):
        fields.bbox_keys(dict(bbox_fields=["boxes"]))


# ------------------------------------------------------------------ TransformCompose rng

PIPELINE = [dict(name="RandomBrightnessContrast", p=0.5), dict(name="RandomFlip", p=0.5),
            dict(name="RandomCrop", size=[20, 24]), dict(name="RandomGamma", p=0.5)]


def _sample():
    img = np.random.default_rng(3).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    return dict(img=img, img_fields=["img"], color_fields=["img"])


def test_transform_compose_draws_the_global_stream():
    t = TransformCompose(PIPELINE)
    np.random.seed(5)
    a = [t(_sample())["img"] for _ in range(3)]
    np.random.seed(5)
    b = Compose(build_transforms(PIPELINE))(_sample(), np.random.Generator(
        np.random.get_bit_generator()))["img"]
    assert np.array_equal(a[0], b)
    assert not np.array_equal(a[0], a[1]) or not np.array_equal(a[1], a[2])
    np.random.seed(5)
    assert all(np.array_equal(x, t(_sample())["img"]) for x in a)


def test_transform_compose_follows_a_replaced_global_bit_generator():
    t = TransformCompose(PIPELINE)
    saved = np.random.get_bit_generator()
    try:
        outs = []
        for _ in range(2):
            np.random.set_bit_generator(np.random.PCG64(9))
            outs.append(t(_sample())["img"])
        assert np.array_equal(*outs)
    finally:
        np.random.set_bit_generator(saved)


# ------------------------------------------------------------------ pixel fast paths


@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 1), (30, 40, 3), (30, 40, 5), (1, 1, 3)])
def test_linear_with_a_negative_shift_is_add_weighted_byte_for_byte(shape):
    rng = np.random.default_rng(len(shape))
    for trial in range(300):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        if trial % 7 == 0:
            img[:] = rng.integers(0, 256)  # one grey level: normalize's range is 0
        if trial % 5 == 0:
            img = img[:, ::-1]  # not contiguous
        alpha, beta = float(rng.uniform(0, 2.5)) * (trial % 11 != 0), float(rng.uniform(-300, 0))
        expected = cv2.addWeighted(img, alpha, img, 0.0, beta).reshape(img.shape)
        assert np.array_equal(linear(img, alpha, beta), expected), (alpha, beta)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.bool_, np.float32])
def test_nearest_resize_takes_the_pixel_under_each_centre(dtype):
    """Whichever way it takes (strided copy, OpenCV where its pixels are these, gathers)."""
    rng = np.random.default_rng(1)
    for trial in range(300):
        h, w = (int(v) for v in rng.integers(2, 300, 2))
        nh, nw = (max(1, n // int(rng.integers(1, 5))) if rng.random() < 0.3  # divides
                  else int(rng.integers(1, 400)) for n in (h, w))
        shape = (h, w) if trial % 3 == 0 else (h, w, int(rng.integers(1, 6)))
        mask = rng.integers(0, 255, shape).astype(dtype)
        if trial % 4 == 0:
            mask = mask[1:, 1:]  # a crop: not contiguous
        rows = np.minimum(((np.arange(nh) + 0.5) * (mask.shape[0] / nh)).astype(np.intp),
                          mask.shape[0] - 1)
        cols = np.minimum(((np.arange(nw) + 0.5) * (mask.shape[1] / nw)).astype(np.intp),
                          mask.shape[1] - 1)
        out = resize_nearest(mask, (nh, nw))
        expected = mask[rows][:, cols]
        assert out.dtype == mask.dtype and out.shape == expected.shape
        assert out.flags.c_contiguous and np.array_equal(out, expected), (mask.shape, nh, nw)


def test_uniform_is_the_generators_uniform():
    a, b, r = (np.random.default_rng(s) for s in (7, 7, 8))
    for _ in range(20000):
        lo, hi = sorted(r.uniform(-300, 300, 2))
        assert uniform(a, lo, hi) == b.uniform(lo, hi)
