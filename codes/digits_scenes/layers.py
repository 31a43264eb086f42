"""Building blocks shared by the scene examples' networks (codes/digits_seg's TinyUNet and
codes/digits_det's TinyCenterNet): one conv-BN-ReLU block and a resize to a skip's size."""
import torch
from torch import nn
from torch.nn import functional as nnf

__all__ = ["conv_block", "upsample_like"]


def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU layers; ``stride`` on the first one downsamples."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


def upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` resized (bilinear) to the height and width of ``like``."""
    return nnf.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
