"""Photometric augmentation: changes pixel values of ``color_fields`` only.

Masks, boxes, points and image-like fields not listed in ``color_fields`` (a target
image in an image-to-image task, a depth map) are left exactly as they are. One drawn
value is applied to every colour field of a sample, so paired views stay consistent.
"""
import numpy as np

from engine.utils.errors import ConfigError

from . import functional as F
from .base import BaseTransform, as_rng, check_prob, check_range
from .build import TRANSFORM_REGISTRY
from .fields import color_keys

__all__ = ["RandomColorJitter"]


@TRANSFORM_REGISTRY.register()
class RandomColorJitter(BaseTransform):
    """Each of brightness, contrast, saturation, hue, gamma and blur is applied, in that
    fixed order, with its own probability ``*_p`` and a value drawn uniformly from its
    ``*_limit = [min, max]``:

    - ``brightness_limit``: multiplier (1 keeps the image).
    - ``contrast_limit``: blend factor with the mean grey (1 keeps).
    - ``saturation_limit``: blend factor with the greyscale image (1 keeps; RGB only).
    - ``hue_limit``: hue rotation in turns, within [-0.5, 0.5] (0 keeps; RGB only).
    - ``gamma_limit``: exponent on [0, 1] intensities (1 keeps, >1 darkens).
    - ``blur_limit``: Gaussian kernel size; an odd size in the range is drawn uniformly.

    Defaults are the values of the reference configuration.
    """

    _OPS = ("brightness", "contrast", "saturation", "hue", "gamma", "blur")

    def __init__(
        self,
        brightness_limit=(0.6, 1.2),
        brightness_p: float = 0.6,
        contrast_limit=(0.6, 1.4),
        contrast_p: float = 0.6,
        saturation_limit=(0.6, 1.4),
        saturation_p: float = 0.5,
        hue_limit=(-0.1, 0.1),
        hue_p: float = 0.05,
        blur_limit=(3, 7),
        blur_p: float = 0.2,
        gamma_limit=(0.3, 3.0),
        gamma_p: float = 0.1,
    ):
        name = type(self).__name__
        self.brightness_limit = check_range(name, "brightness_limit", brightness_limit, low=0)
        self.contrast_limit = check_range(name, "contrast_limit", contrast_limit, low=0)
        self.saturation_limit = check_range(name, "saturation_limit", saturation_limit, low=0)
        self.hue_limit = check_range(name, "hue_limit", hue_limit, low=-0.5, high=0.5)
        self.gamma_limit = check_range(name, "gamma_limit", gamma_limit, low=1e-6)
        self.blur_limit = check_range(name, "blur_limit", blur_limit, low=1, integer=True)
        lo, hi = self.blur_limit
        self._kernel_sizes = [k for k in range(lo, hi + 1) if k % 2 == 1]
        if not self._kernel_sizes:
            raise ConfigError(
                f"{name}: blur_limit {list(blur_limit)} contains no odd kernel size; "
                f"Gaussian kernels must be odd (e.g. [3, 7])"
            )
        probs = dict(
            brightness=brightness_p, contrast=contrast_p, saturation=saturation_p,
            hue=hue_p, gamma=gamma_p, blur=blur_p,
        )
        for op, p in probs.items():
            setattr(self, f"{op}_p", check_prob(name, f"{op}_p", p))

    def _draw(self, op: str, rng: np.random.Generator):
        if op == "blur":
            return int(self._kernel_sizes[int(rng.integers(len(self._kernel_sizes)))])
        lo, hi = getattr(self, f"{op}_limit")
        return float(rng.uniform(lo, hi))

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        keys = color_keys(results)
        for op in self._OPS:
            if rng.random() >= getattr(self, f"{op}_p"):
                continue
            value = self._draw(op, rng)
            fn = _FUNCTIONS[op]
            for key in keys:
                results[key] = fn(results[key], value)
        return results


_FUNCTIONS = {
    "brightness": F.adjust_brightness,
    "contrast": F.adjust_contrast,
    "saturation": F.adjust_saturation,
    "hue": F.adjust_hue,
    "gamma": F.adjust_gamma,
    "blur": F.gaussian_blur,
}
