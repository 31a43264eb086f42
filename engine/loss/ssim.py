"""SSIM loss: ``1 - SSIM`` (Wang et al., 2004) with a Gaussian window.

Means, variances and the covariance are Gaussian-weighted over each window (the
``sigma=1.5`` window of the paper; the seed's ``window_size=5``); only windows that fit
inside the image count (no zero padding, which would make every border look
dissimilar). The seed applies a sigmoid (or softmax) and one-hot encodes class targets,
as for its other segmentation losses; ``activation='none'`` compares images as given.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils.errors import EngineError
from .build import LOSS_ARCH_REGISTRY
from .targets import activate, one_hot_target, resolve_activation
from .weighted import WeightedLoss

__all__ = ["SSIMLoss", "ssim", "gaussian_window"]


def gaussian_window(size: int, sigma: float) -> Tensor:
    """The normalised 1-D Gaussian of ``size`` taps centred on the middle one."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5,
         data_range: float = 1.0) -> Tensor:
    """The mean SSIM of two ``N x C x H x W`` tensors over every valid window."""
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
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return value.mean()


@LOSS_ARCH_REGISTRY.register()
class SSIMLoss(WeightedLoss):
    """``1 - ssim(activation(input), target)``.

    ``input``: ``N x C x H x W``; ``apply_sigmoid=True`` (the seed's default) a sigmoid,
    ``False`` a softmax over C (the seed's meaning), or ``activation='none'`` for images.
    ``target``: shaped like ``input``, or class indices ``N x H x W`` / ``N x 1 x H x W``
    (one-hot encoded). ``ignore_index`` pixels are zeroed in both before comparing."""

    def __init__(self, apply_sigmoid: Optional[bool] = None, ignore_index: Optional[int] = None,
                 window_size: int = 5, sigma: float = 1.5, data_range: float = 1.0,
                 activation: Optional[str] = None, lambda_weight: float = 1.0):
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
