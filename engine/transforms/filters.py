"""Neighbourhood and codec colour transforms: blur, sharpen, CLAHE, compression, noise.

The seed's ``RandomGaussianBlur``, ``RandomSharpen``, ``RandomCLAHE`` and
``RandomCompress`` (data_aug.md), plus ``RandomGaussianNoise`` (albumentations'
``GaussNoise``). Like every :class:`BasicColorTransform` they change ``color_fields``
only, with one draw per sample shared by all colour fields.
"""
import numbers

import numpy as np

from engine.utils.errors import ConfigError

from . import functional as F
from . import functional_color as C
from .base import check_choice
from .build import TRANSFORM_REGISTRY
from .color_base import BasicColorTransform, limit_range, one_to, zero_to
from .fields import color_keys

__all__ = [
    "RandomGaussianBlur",
    "RandomSharpen",
    "RandomCLAHE",
    "RandomCompress",
    "RandomGaussianNoise",
]


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def kernel_sizes(owner: str, blur_limit, sigma_limit):
    """The odd kernel sizes in ``blur_limit`` (and 0, "derive it from sigma", when the
    range starts at 0 and every sigma in ``sigma_limit`` is positive)."""
    lo, hi = blur_limit
    sizes = [k for k in range(max(lo, 1), hi + 1) if k % 2 == 1]
    if lo == 0 and sigma_limit[0] > 0:
        sizes.insert(0, 0)
    if not sizes:
        raise ConfigError(
            f"{owner}: blur_limit {list(blur_limit)} contains no odd kernel size; Gaussian "
            f"kernels must be odd (e.g. [3, 7]), or the range may start at 0 when "
            f"sigma_limit is positive")
    return sizes


@TRANSFORM_REGISTRY.register()
class RandomGaussianBlur(BasicColorTransform):
    """Gaussian blur with an odd kernel size drawn uniformly from ``blur_limit`` and a sigma
    from ``sigma_limit`` (0: derived from the size). Single numbers ``x`` mean ``[0, x]``
    (the seed's code; its page says ``[-x, x]``, which has no meaning for a size)."""

    def __init__(self, blur_limit=(3, 7), sigma_limit=0, p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        self.blur_limit = limit_range(name, "blur_limit", blur_limit, single=zero_to, low=0,
                                      integer=True)
        self.sigma_limit = limit_range(name, "sigma_limit", sigma_limit, single=zero_to, low=0)
        self._sizes = kernel_sizes(name, self.blur_limit, self.sigma_limit)

    def sample_params(self, results, rng):
        return {"ksize": int(self._sizes[int(rng.integers(len(self._sizes)))]),
                "sigma": float(rng.uniform(*self.sigma_limit))}

    def apply(self, img, ksize, sigma):
        return F.gaussian_blur(img, ksize, sigma)


@TRANSFORM_REGISTRY.register()
class RandomSharpen(BasicColorTransform):
    """Blend with a 3x3 sharpened version: ``alpha`` (in [0, 1]) is its visibility,
    ``lightness`` the brightness of the sharpened image; single numbers mean ``[0, x]``."""

    def __init__(self, alpha=(0.2, 0.5), lightness=(0.5, 1.0), p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        self.alpha = limit_range(name, "alpha", alpha, single=zero_to, low=0.0, high=1.0)
        self.lightness = limit_range(name, "lightness", lightness, single=zero_to, low=0.0)

    def sample_params(self, results, rng):
        return {"alpha": float(rng.uniform(*self.alpha)),
                "lightness": float(rng.uniform(*self.lightness))}

    def apply(self, img, alpha, lightness):
        return C.sharpen(img, alpha, lightness)


@TRANSFORM_REGISTRY.register()
class RandomCLAHE(BasicColorTransform):
    """Contrast-limited adaptive histogram equalisation (of Lab lightness for RGB) with a
    clip limit from ``clip_limit`` (one number ``x`` means ``[1, x]``, as in the seed's
    code and albumentations) on a ``tile_grid_size`` grid (one int ``n`` means ``n x n``).
    ``uint8`` images only."""

    def __init__(self, clip_limit=4.0, tile_grid_size=(8, 8), p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        self.clip_limit = limit_range(name, "clip_limit", clip_limit, single=one_to, low=0.0)
        grid = (tile_grid_size, tile_grid_size) if _is_int(tile_grid_size) else tile_grid_size
        if (not isinstance(grid, (list, tuple)) or len(grid) != 2
                or not all(_is_int(v) and v > 0 for v in grid)):
            raise ConfigError(f"{name}: tile_grid_size must be a positive int or a pair of "
                              f"positive ints, got {tile_grid_size!r}")
        self.tile_grid_size = (int(grid[0]), int(grid[1]))

    def sample_params(self, results, rng):
        return {"clip_limit": float(rng.uniform(*self.clip_limit))}

    def apply(self, img, clip_limit):
        if img.dtype != np.uint8:
            raise TypeError(f"RandomCLAHE needs uint8 colour fields, got a {img.dtype} image; "
                            f"put it before Normalize (or any transform that makes floats)")
        return C.clahe(img, clip_limit, self.tile_grid_size)


@TRANSFORM_REGISTRY.register()
class RandomCompress(BasicColorTransform):
    """JPEG or WebP compression at a quality drawn from
    ``range(quality_lower, quality_upper + 1, quality_step)`` (both ends included, as the
    seed's code does). Qualities are in [0, 100] for jpg and [1, 100] for webp."""

    def __init__(self, quality_lower=99, quality_upper=100, quality_step=1,
                 compression_type="jpg", p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        self.compression_type = check_choice(name, "compression_type", compression_type,
                                             ("jpg", "webp"))
        least = 1 if compression_type == "webp" else 0
        for key, v in (("quality_lower", quality_lower), ("quality_upper", quality_upper)):
            if not _is_int(v) or not least <= v <= 100:
                raise ConfigError(f"{name}: {key} must be an int in [{least}, 100] for "
                                  f"{compression_type}, got {v!r}")
        if quality_lower > quality_upper:
            raise ConfigError(f"{name}: quality_lower ({quality_lower}) must not exceed "
                              f"quality_upper ({quality_upper})")
        if not _is_int(quality_step) or quality_step < 1:
            raise ConfigError(f"{name}: quality_step must be a positive int, got "
                              f"{quality_step!r}")
        self.quality_lower, self.quality_upper = int(quality_lower), int(quality_upper)
        self.quality_step = int(quality_step)
        self.qualities = list(range(self.quality_lower, self.quality_upper + 1,
                                    self.quality_step))

    def sample_params(self, results, rng):
        return {"quality": int(self.qualities[int(rng.integers(len(self.qualities)))])}

    def apply(self, img, quality):
        return C.image_compression(img, quality, "." + self.compression_type)


@TRANSFORM_REGISTRY.register()
class RandomGaussianNoise(BasicColorTransform):
    """Add Gaussian noise with a standard deviation drawn from ``std_limit`` and mean
    ``mean``, both as fractions of the maximum value (255 for uint8, 1 for floats).
    ``per_channel=False`` adds the same noise to every channel (grey noise)."""

    def __init__(self, std_limit=(0.02, 0.1), mean: float = 0.0, per_channel: bool = True,
                 p: float = 0.5):
        super().__init__(p)
        name = type(self).__name__
        self.std_limit = limit_range(name, "std_limit", std_limit, single=zero_to, low=0.0,
                                     high=1.0)
        if not isinstance(mean, numbers.Real) or isinstance(mean, bool) or not -1 <= mean <= 1:
            raise ConfigError(f"{name}: mean must be a number in [-1, 1], got {mean!r}")
        self.mean = float(mean)
        self.per_channel = bool(per_channel)

    def sample_params(self, results, rng):
        # One noise field per sample: every colour field must have the same shape.
        shape = np.shape(results[color_keys(results)[0]])
        if not self.per_channel and len(shape) == 3:
            shape = shape[:2] + (1,)
        noise = rng.standard_normal(shape, dtype=np.float32)
        return {"noise": noise, "std": float(rng.uniform(*self.std_limit))}

    def apply(self, img, noise, std):
        unit = np.float32(255.0 if img.dtype == np.uint8 else 1.0)
        scaled = noise * np.float32(std * unit)
        if self.mean:
            scaled += np.float32(self.mean * unit)
        return C.add_noise(img, scaled)
