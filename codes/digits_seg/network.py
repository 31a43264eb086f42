"""A small encoder-decoder (U-Net shaped) for per-pixel digit classes on 64x64 scenes.

A stride-2 stem and three more stride-2 stages give a receptive field larger than the
biggest digit (28 px), which the decoder needs to tell a 3 from an 8 at every pixel;
skip connections keep the edges sharp. The logits are predicted at half resolution and
upsampled (digit strokes are >= 2 px wide), which makes it 4x cheaper: a 2-core CPU
trains it in minutes.
"""
import torch
from torch import nn
from torch.nn import functional as nnf

from engine.model.build import BUILD_NETWORK_REGISTRY

__all__ = ["TinyUNet"]


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


@BUILD_NETWORK_REGISTRY.register()
class TinyUNet(nn.Module):
    def __init__(self, num_classes: int = 11, width: int = 16, in_channels: int = 3):
        super().__init__()
        w = width
        self.enc1 = _block(in_channels, w, stride=2)  # 1/2
        self.enc2 = _block(w, 2 * w, stride=2)        # 1/4
        self.enc3 = _block(2 * w, 4 * w, stride=2)    # 1/8
        self.enc4 = _block(4 * w, 4 * w, stride=2)    # 1/16
        self.dec3 = _block(8 * w, 2 * w)
        self.dec2 = _block(4 * w, w)
        self.dec1 = _block(2 * w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return nnf.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.dec3(torch.cat([self._up(e4, e3), e3], 1))
        d2 = self.dec2(torch.cat([self._up(d3, e2), e2], 1))
        d1 = self.dec1(torch.cat([self._up(d2, e1), e1], 1))
        return self._up(self.head(d1), x)
