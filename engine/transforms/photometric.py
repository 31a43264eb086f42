"""Point-wise colour transforms of the seed (data_aug.md, "像素增强"), by their names.

Each is a :class:`BasicColorTransform`: with probability ``p`` one value is drawn from its
range and applied to every colour field. Ranges are given as in the seed: a pair
``[min, max]``, or one number whose meaning each class states. On ``uint8`` images
brightness, contrast and brightness/contrast are one ``alpha * x + beta`` pass; gamma
and the tone curve one 256-entry table built per call and one lookup pass
(:func:`~engine.transforms.functional_lut.apply_lut`, StringZilla's SIMD ``translate``).
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from . import functional_color as C
from .base import check_range, uniform
from .build import TRANSFORM_REGISTRY
from .color_base import BasicColorTransform, limit_range, one_plus_minus, plus_minus

__all__ = [
    "RandomBrightness",
    "RandomContrast",
    "RandomSaturation",
    "RandomHue",
    "RandomGamma",
    "RandomBrightnessContrast",
    "RandomToneCurve",
    "ToGray",
]


class _FactorTransform(BasicColorTransform):
    """One factor drawn uniformly from ``[min, max]``; a single number ``x`` means
    ``[max(0, 1 - x), 1 + x]``. 1 keeps the image."""

    _limit_name = ""
    _function = None  # each subclass: staticmethod(functional_color.adjust_...)

    def __init__(self, limit, p):
        super().__init__(p)
        name = type(self).__name__
        setattr(self, self._limit_name,
                limit_range(name, self._limit_name, limit, single=one_plus_minus, low=0.0))

    def sample_params(self, results, rng):
        lo, hi = getattr(self, self._limit_name)
        return {"factor": uniform(rng, lo, hi)}

    def apply(self, img, factor):
        return self._function(img, factor)


@TRANSFORM_REGISTRY.register()
class RandomBrightness(_FactorTransform):
    """Multiply intensities by a factor from ``brightness_limit``."""

    _limit_name, _function = "brightness_limit", staticmethod(C.adjust_brightness)

    def __init__(self, brightness_limit=0.2, p: float = 0.5):
        super().__init__(brightness_limit, p)


@TRANSFORM_REGISTRY.register()
class RandomContrast(_FactorTransform):
    """Blend with the mean grey level by a factor from ``contrast_limit``."""

    _limit_name, _function = "contrast_limit", staticmethod(C.adjust_contrast)

    def __init__(self, contrast_limit=0.2, p: float = 0.5):
        super().__init__(contrast_limit, p)


@TRANSFORM_REGISTRY.register()
class RandomSaturation(_FactorTransform):
    """Blend an RGB image with its grey version by a factor from ``saturation_limit``."""

    _limit_name, _function = "saturation_limit", staticmethod(C.adjust_saturation)

    def __init__(self, saturation_limit=0.2, p: float = 0.5):
        super().__init__(saturation_limit, p)


@TRANSFORM_REGISTRY.register()
class RandomHue(BasicColorTransform):
    """Rotate the hue of an RGB image by a fraction of a turn from ``hue_limit``, within
    [-0.5, 0.5]; a single number ``x`` means ``[-x, x]``."""

    def __init__(self, hue_limit=0.2, p: float = 0.5):
        super().__init__(p)
        self.hue_limit = limit_range(type(self).__name__, "hue_limit", hue_limit,
                                     single=plus_minus, low=-0.5, high=0.5)

    def sample_params(self, results, rng):
        return {"factor": float(rng.uniform(*self.hue_limit))}

    def apply(self, img, factor):
        return C.adjust_hue(img, factor)


@TRANSFORM_REGISTRY.register()
class RandomGamma(BasicColorTransform):
    """``x ** gamma`` on intensities in [0, 1], ``gamma`` from ``gamma_limit`` (> 1 darkens).

    The seed's page reads a single number ``g`` as ``[-g, g]``, which holds gammas <= 0
    that have no meaning; only the pair form is accepted."""

    def __init__(self, gamma_limit=(0.8, 1.2), p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        if isinstance(gamma_limit, (int, float)) and not isinstance(gamma_limit, bool):
            raise ConfigError(
                f"{name}: gamma_limit={gamma_limit!r}: one number g would mean [-g, g], which "
                f"contains gammas <= 0; give a pair [min, max] of positive numbers, e.g. "
                f"[0.8, 1.2]")
        self.gamma_limit = check_range(name, "gamma_limit", gamma_limit, low=1e-6)

    def sample_params(self, results, rng):
        return {"gamma": uniform(rng, *self.gamma_limit)}

    def apply(self, img, gamma):
        return C.adjust_gamma(img, gamma)


@TRANSFORM_REGISTRY.register()
class RandomBrightnessContrast(BasicColorTransform):
    """``x * (1 + c) + b * M`` with ``c`` from ``contrast_limit`` and ``b`` from
    ``brightness_limit`` (single numbers mean ``[-x, x]``; 0 keeps). ``M`` is 255 (1 for
    float images) when ``brightness_by_max``, else ``(1 + c)`` times the image mean, as in
    the seed and albumentations."""

    def __init__(self, brightness_limit=0.2, contrast_limit=0.2, brightness_by_max=True,
                 p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        self.brightness_limit = limit_range(name, "brightness_limit", brightness_limit,
                                            single=plus_minus, low=-1.0, high=1.0)
        self.contrast_limit = limit_range(name, "contrast_limit", contrast_limit,
                                          single=plus_minus, low=-1.0)
        if not isinstance(brightness_by_max, (bool, np.bool_)):
            raise ConfigError(f"{name}: brightness_by_max must be true or false, got "
                              f"{brightness_by_max!r}")
        self.brightness_by_max = bool(brightness_by_max)

    def sample_params(self, results, rng):
        return {"alpha": 1.0 + uniform(rng, *self.contrast_limit),
                "beta": uniform(rng, *self.brightness_limit)}

    def apply(self, img, alpha, beta):
        return C.brightness_contrast(img, alpha, beta, self.brightness_by_max)


@TRANSFORM_REGISTRY.register()
class RandomToneCurve(BasicColorTransform):
    """Move the two inner control points of the tone curve (a cubic Bezier through
    (0, 0) and (1, 1)) to heights drawn from N(0.25, scale) and N(0.75, scale), clipped
    to [0, 1]: changes the balance of shadows and highlights. ``scale`` in [0, 1]."""

    def __init__(self, scale: float = 0.1, p: float = 0.5):
        super().__init__(p)
        if not (isinstance(scale, numbers.Real) and not isinstance(scale, bool)
                and 0.0 <= scale <= 1.0):
            raise ConfigError(f"{type(self).__name__}: scale must be a number in [0, 1], "
                              f"got {scale!r}")
        self.scale = float(scale)

    def sample_params(self, results, rng):
        # The numbers of np.clip(rng.normal((0.25, 0.75), scale), 0, 1) (normal() is
        # loc + scale * standard_normal(), drawn in order) at 3 us instead of 40.
        z_low, z_high = rng.standard_normal(2).tolist()
        return {"low_y": min(max(0.25 + self.scale * z_low, 0.0), 1.0),
                "high_y": min(max(0.75 + self.scale * z_high, 0.0), 1.0)}

    def apply(self, img, low_y, high_y):
        return C.move_tone_curve(img, low_y, high_y)


@TRANSFORM_REGISTRY.register()
class ToGray(BasicColorTransform):
    """RGB -> grey (ITU-R 601 weights), kept as three equal channels; one-channel images
    are left as they are."""

    def __init__(self, p: float = 1.0):
        super().__init__(p)

    def sample_params(self, results, rng):
        return {}

    def apply(self, img):
        return C.to_gray(img)
