"""The last steps of a pipeline: normalisation and conversion to tensors.

Scaling convention (one rule, so nothing is scaled twice): ``uint8`` images become
floats in [0, 1] when converted to tensors; any other dtype keeps its values.
:class:`Normalize` returns float32, so an image that went through it reaches
:class:`ToTensor` unscaled, exactly as normalised. Give ``Normalize`` its mean and std in
the image's own units (0..255 for ``uint8`` images).
"""
import numbers

import numpy as np
import torch

from engine.utils.errors import ConfigError

from . import functional as F
from .base import BaseTransform
from .build import TRANSFORM_REGISTRY
from .fields import color_keys, image_keys, mask_keys

__all__ = ["Normalize", "ToTensor"]


def _check_stats(owner: str, name: str, value, nonzero=False):
    values = [value] if isinstance(value, numbers.Real) else value
    if (
        not isinstance(values, (list, tuple))
        or not values
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
        or (nonzero and any(v == 0 for v in values))
    ):
        expected = "non-zero numbers" if nonzero else "numbers"
        raise ConfigError(
            f"{owner}: {name} must be a number or a list of {expected} (one per channel), "
            f"got {value!r}"
        )
    return [float(v) for v in values]


def _keys_or_default(keys, default):
    return default if keys is None else list(keys)


def _check_keys(owner: str, keys):
    if keys is not None and (
        isinstance(keys, str) or not all(isinstance(k, str) for k in keys)
    ):
        raise ConfigError(f"{owner}: keys must be a list of results keys, got {keys!r}")
    return None if keys is None else list(keys)


@TRANSFORM_REGISTRY.register()
class Normalize(BaseTransform):
    """``(img - mean) / std`` per channel, as float32, on ``color_fields`` (or ``keys``):
    the seed's rule, so a target image or a mask next to the input keeps its values.
    ``to_rgb`` swaps BGR to RGB first (for images read with ``cv2.imread`` and not
    converted). Records ``img_norm_cfg``.

    The defaults are the seed's: ImageNet statistics in 0..255 units, RGB order. A
    float32 ``(x - mean) / std`` is computed over image rows (:func:`functional.normalize`),
    the same bits as the device-side normalisation."""

    def __init__(self, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
                 to_rgb: bool = False, keys=None):
        name = type(self).__name__
        self.mean = _check_stats(name, "mean", mean)
        self.std = _check_stats(name, "std", std, nonzero=True)
        self.to_rgb = bool(to_rgb)
        self.keys = _check_keys(name, keys)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        for key in _keys_or_default(self.keys, color_keys(results)):
            results[key] = F.normalize(results[key], self.mean, self.std, self.to_rgb)
        results["img_norm_cfg"] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results


@TRANSFORM_REGISTRY.register()
class ToTensor(BaseTransform):
    """Convert fields to torch tensors; put it last, as later transforms expect arrays.

    - images (``img_fields`` that are not masks): C x H x W float32 via
      :func:`functional.to_tensor` (``uint8`` scaled to [0, 1], other dtypes unscaled);
    - masks: H x W int64, values unchanged (ready for ``CrossEntropyLoss``);
    - any other key named in ``keys``: ``torch.as_tensor``.

    ``keys=None`` converts all image and mask fields; boxes and points stay arrays, since
    their count differs from sample to sample and batching them is the dataset's call.
    """

    def __init__(self, keys=None):
        self.keys = _check_keys(type(self).__name__, keys)

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        images, masks = image_keys(results), set(mask_keys(results))
        for key in _keys_or_default(self.keys, images + sorted(masks)):
            value = results[key]
            if isinstance(value, torch.Tensor):
                continue
            if key in masks:
                results[key] = torch.from_numpy(np.asarray(value).astype(np.int64))
            elif key in images:
                results[key] = F.to_tensor(value)
            else:
                results[key] = torch.as_tensor(np.asarray(value))
        return results
