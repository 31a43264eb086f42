"""A small anchor-free detector (CenterNet-style) for digits in 64x64 scenes.

One feature map at stride 4 predicts, at every cell, a heat map per class (is a digit's
centre here?), the box size and the sub-cell offset of the centre. Anchor-free keeps the
example short: no anchor matching, and decoding is a peak search (:mod:`.decode`).
"""
import torch
from torch import nn

from engine.model.build import BUILD_NETWORK_REGISTRY

from ..digits_scenes.layers import conv_block, upsample_like

__all__ = ["TinyCenterNet"]


def _head(cin: int, cout: int, bias: float = 0.0) -> nn.Sequential:
    head = nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1))
    nn.init.constant_(head[-1].bias, bias)
    return head


@BUILD_NETWORK_REGISTRY.register()
class TinyCenterNet(nn.Module):
    """Returns ``(heatmap logits N x C x H/4 x W/4, size N x 2 x .., offset N x 2 x ..)``."""

    stride = 4

    def __init__(self, num_classes: int = 10, width: int = 16, in_channels: int = 3):
        super().__init__()
        w = width
        self.enc1 = conv_block(in_channels, w, stride=2)  # 1/2
        self.enc2 = conv_block(w, 2 * w, stride=2)        # 1/4
        self.enc3 = conv_block(2 * w, 4 * w, stride=2)    # 1/8
        self.enc4 = conv_block(4 * w, 4 * w, stride=2)    # 1/16
        self.dec3 = conv_block(8 * w, 4 * w)
        self.dec2 = conv_block(6 * w, 2 * w)
        # focal-loss prior: start every cell at p = 0.01 so the background does not swamp it
        self.heatmap = _head(2 * w, num_classes, bias=-4.6)
        self.size = _head(2 * w, 2)
        self.offset = _head(2 * w, 2)

    def forward(self, x: torch.Tensor):
        e2 = self.enc2(self.enc1(x))
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.dec3(torch.cat([upsample_like(e4, e3), e3], 1))
        d2 = self.dec2(torch.cat([upsample_like(d3, e2), e2], 1))
        return self.heatmap(d2), self.size(d2), self.offset(d2)
