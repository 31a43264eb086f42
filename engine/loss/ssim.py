"""SSIM loss: ``1 - SSIM`` (Wang et al., 2004) with a Gaussian window.

Means, variances and the covariance are Gaussian-weighted over each window (the
``sigma=1.5`` window of the paper; the seed's ``window_size=5``); only windows that fit
inside the image count (no zero padding, which would make every border look
dissimilar). The seed applies a sigmoid (or softmax) and one-hot encodes class targets,
as for its other segmentation losses; ``activation='none'`` compares images as given.

:class:`SSIM` is the seed's ``engine.loss.function.ssim.SSIM`` module, by default
multi-scale (Wang et al., 2003), computed as published: the contrast-structure terms of
the finer scales and the full SSIM of the coarsest, each to its weight, multiplied once.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils.errors import EngineError
from .build import LOSS_ARCH_REGISTRY
from .targets import activate, one_hot_target, resolve_activation
from .weighted import WeightedLoss

__all__ = ["SSIMLoss", "SSIM", "ssim", "ms_ssim", "ssim_and_cs", "gaussian_window"]

#: The five scales' weights of Wang et al. (2003).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int, sigma: float) -> Tensor:
    """The normalised 1-D Gaussian of ``size`` taps centred on the middle one."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5,
         data_range: float = 1.0) -> Tensor:
    """The mean SSIM of two ``N x C x H x W`` tensors over every valid window."""
    return ssim_and_cs(x, y, window_size, sigma, data_range)[0]


def ssim_and_cs(x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5,
                data_range: float = 1.0) -> Tuple[Tensor, Tensor]:
    """The mean SSIM and the mean contrast-structure term (SSIM without luminance)."""
    if x.shape != y.shape or x.dim() != 4:
        raise EngineError(f"ssim: expected two N x C x H x W tensors of one shape, got "
                          f"{tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window_size:
        raise EngineError(f"ssim: the image {tuple(x.shape[-2:])} is smaller than the "
                          f"{window_size} x {window_size} window; lower window_size.")
    g = gaussian_window(window_size, sigma).to(x.device, x.dtype)
    channels = x.shape[1]
    kernel = torch.outer(g, g).expand(channels, 1, window_size, window_size)

    def mean(t: Tensor) -> Tensor:
        return F.conv2d(t, kernel, groups=channels)

    mu_x, mu_y = mean(x), mean(y)
    var_x = mean(x * x) - mu_x ** 2
    var_y = mean(y * y) - mu_y ** 2
    cov = mean(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    return (luminance * cs).mean(), cs.mean()


def ms_ssim(x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5, data_range: float = 1.0,
            weights: Sequence[float] = MS_SSIM_WEIGHTS) -> Tensor:
    """``prod_{j<M} cs_j^w_j * ssim_M^w_M`` over ``M = len(weights)`` scales, each half the
    last (2 x 2 average pooling). A negative term is clamped to a tiny positive value, as a
    fractional power of it is undefined."""
    levels = len(weights)
    need = window_size * 2 ** (levels - 1)
    if min(x.shape[-2:]) < need:
        raise EngineError(f"ms_ssim: the image {tuple(x.shape[-2:])} is too small for {levels} "
                          f"scales of a {window_size} x {window_size} window: it needs at least "
                          f"{need} x {need} (or fewer scales, a smaller window, or single-scale).")
    terms = []
    for _ in range(levels - 1):
        terms.append(ssim_and_cs(x, y, window_size, sigma, data_range)[1])
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    terms.append(ssim_and_cs(x, y, window_size, sigma, data_range)[0])
    w = torch.as_tensor(weights, dtype=terms[0].dtype, device=terms[0].device)
    return torch.prod(torch.stack(terms).clamp_min(1e-6) ** w)


class SSIM(torch.nn.Module):
    """The seed's SSIM module: ``SSIM()(img1, img2)`` is the similarity (1 when equal).

    ``is_multi_scale``: MS-SSIM over the five scales of :data:`MS_SSIM_WEIGHTS` (images at
    least ``16 * ssim_window_size`` wide), else single-scale SSIM. ``alpha`` is accepted
    and unused, as in the seed (a weight of an L1 term it never computes)."""

    def __init__(self, ssim_window_size: int = 5, alpha: float = 0.5, is_multi_scale: bool = True,
                 sigma: float = 1.5, data_range: float = 1.0):
        super().__init__()
        self.ssim_window_size, self.alpha = int(ssim_window_size), float(alpha)
        self.is_multi_scale = bool(is_multi_scale)
        self.sigma, self.data_range = float(sigma), float(data_range)

    def forward(self, img1: Tensor, img2: Tensor) -> Tensor:
        fn = ms_ssim if self.is_multi_scale else ssim
        return fn(img1, img2, self.ssim_window_size, self.sigma, self.data_range)

    def extra_repr(self) -> str:
        return f"ssim_window_size={self.ssim_window_size}, is_multi_scale={self.is_multi_scale}"


@LOSS_ARCH_REGISTRY.register()
class SSIMLoss(WeightedLoss):
    """``1 - ssim(activation(input), target)``.

    ``input``: ``N x C x H x W``; ``apply_sigmoid=True`` (the seed's default) a sigmoid,
    ``False`` a softmax over C (the seed's meaning), or ``activation='none'`` for images.
    ``target``: shaped like ``input``, or class indices ``N x H x W`` / ``N x 1 x H x W``
    (one-hot encoded). ``ignore_index`` pixels are zeroed in both before comparing.
    The first three parameters are the seed's, in its order (``SSIMLoss(0.5)`` weighs 0.5)."""

    def __init__(self, lambda_weight: float = 1.0, apply_sigmoid: Optional[bool] = None,
                 ignore_index: Optional[int] = None, window_size: int = 5, sigma: float = 1.5,
                 data_range: float = 1.0, activation: Optional[str] = None):
        super().__init__(lambda_weight)
        self.activation = resolve_activation("SSIMLoss", activation, apply_sigmoid,
                                             "apply_sigmoid", "sigmoid", "softmax")
        self.ignore_index = ignore_index
        self.window_size, self.sigma, self.data_range = int(window_size), float(sigma), float(data_range)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        prob = activate(input, self.activation)
        truth, valid = one_hot_target(type(self).__name__, target, prob, self.ignore_index)
        if valid is not None:
            prob, truth = prob * valid, truth * valid
        return 1.0 - ssim(prob, truth, self.window_size, self.sigma, self.data_range)

    def extra_repr(self) -> str:
        return (f"activation={self.activation!r}, ignore_index={self.ignore_index}, "
                f"window_size={self.window_size}, sigma={self.sigma}")
