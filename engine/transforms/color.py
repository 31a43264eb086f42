"""``RandomColorJitter``: the seed's seven colour transforms in one, in a random order.

Masks, boxes, points and image-like fields not listed in ``color_fields`` are left
exactly as they are (every part is a :class:`BasicColorTransform`).
"""
import numpy as np

from engine.utils.errors import ConfigError

from .base import BaseTransform, as_rng, check_prob
from .build import TRANSFORM_REGISTRY
from .filters import RandomCLAHE, RandomGaussianBlur
from .photometric import (RandomBrightness, RandomContrast, RandomGamma, RandomHue,
                          RandomSaturation)

__all__ = ["RandomColorJitter"]


@TRANSFORM_REGISTRY.register()
class RandomColorJitter(BaseTransform):
    """Brightness, contrast, saturation, hue, Gaussian blur, gamma and CLAHE, each with its
    own probability ``*_p`` and range ``*_limit`` (read exactly as by
    :class:`RandomBrightness`, :class:`RandomContrast`, :class:`RandomSaturation`,
    :class:`RandomHue`, :class:`RandomGaussianBlur` with ``sigma_limit``,
    :class:`RandomGamma` and :class:`RandomCLAHE` with ``clip_limit=clahe_limit``), run in
    an order drawn afresh for every sample, as in the seed. Defaults are the seed's.
    """

    def __init__(
        self,
        brightness_limit=0.2, brightness_p: float = 0.5,
        contrast_limit=0.2, contrast_p: float = 0.5,
        saturation_limit=0.2, saturation_p: float = 0.5,
        hue_limit=0.1, hue_p: float = 0.1,
        blur_limit=(3, 7), sigma_limit=0, blur_p: float = 0.2,
        gamma_limit=(0.3, 2.0), gamma_p: float = 0.5,
        clahe_limit=4.0, clahe_p: float = 0.2,
    ):
        name = type(self).__name__
        for key, value in (("brightness_p", brightness_p), ("contrast_p", contrast_p),
                           ("saturation_p", saturation_p), ("hue_p", hue_p),
                           ("blur_p", blur_p), ("gamma_p", gamma_p), ("clahe_p", clahe_p)):
            setattr(self, key, check_prob(name, key, value))
        try:
            self.jitter = [
                RandomBrightness(brightness_limit, brightness_p),
                RandomContrast(contrast_limit, contrast_p),
                RandomSaturation(saturation_limit, saturation_p),
                RandomHue(hue_limit, hue_p),
                RandomGaussianBlur(blur_limit, sigma_limit, blur_p),
                RandomGamma(gamma_limit, gamma_p),
                RandomCLAHE(clip_limit=clahe_limit, p=clahe_p),
            ]
        except ConfigError as e:
            raise ConfigError(f"{name}: {e}") from None
        bright, contrast, saturation, hue, blur, gamma, clahe = self.jitter
        # The normalised ranges, under the constructor's names (for repr and inspection).
        self.brightness_limit = bright.brightness_limit
        self.contrast_limit = contrast.contrast_limit
        self.saturation_limit, self.hue_limit = saturation.saturation_limit, hue.hue_limit
        self.blur_limit, self.sigma_limit = blur.blur_limit, blur.sigma_limit
        self.gamma_limit, self.clahe_limit = gamma.gamma_limit, clahe.clip_limit

    def __call__(self, results: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        for i in rng.permutation(len(self.jitter)):
            results = self.jitter[i](results, rng)
        return results
