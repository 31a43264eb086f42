"""A small encoder-decoder (U-Net shaped) for per-pixel digit classes on 64x64 scenes.

A stride-2 stem and three more stride-2 stages give a receptive field larger than the
biggest digit (28 px), which the decoder needs to tell a 3 from an 8 at every pixel;
skip connections keep the edges sharp. The logits are predicted at half resolution and
upsampled (digit strokes are >= 2 px wide), which makes it 4x cheaper: a 2-core CPU
trains it in minutes.
"""
import torch
from torch import nn

from engine.model.build import BUILD_NETWORK_REGISTRY

from ..digits_scenes.layers import conv_block, upsample_like

__all__ = ["TinyUNet"]


@BUILD_NETWORK_REGISTRY.register()
class TinyUNet(nn.Module):
    def __init__(self, num_classes: int = 11, width: int = 16, in_channels: int = 3):
        super().__init__()
        w = width
        self.enc1 = conv_block(in_channels, w, stride=2)  # 1/2
        self.enc2 = conv_block(w, 2 * w, stride=2)        # 1/4
        self.enc3 = conv_block(2 * w, 4 * w, stride=2)    # 1/8
        self.enc4 = conv_block(4 * w, 4 * w, stride=2)    # 1/16
        self.dec3 = conv_block(8 * w, 2 * w)
        self.dec2 = conv_block(4 * w, w)
        self.dec1 = conv_block(2 * w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.dec3(torch.cat([upsample_like(e4, e3), e3], 1))
        d2 = self.dec2(torch.cat([upsample_like(d3, e2), e2], 1))
        d1 = self.dec1(torch.cat([upsample_like(d2, e1), e1], 1))
        return upsample_like(self.head(d1), x)
