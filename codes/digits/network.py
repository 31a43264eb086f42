"""A small CNN for 16x16 grey digits (about 30k parameters with width 16)."""
import torch
from torch import nn

from engine.model.build import BUILD_NETWORK_REGISTRY

__all__ = ["DigitsNet"]


@BUILD_NETWORK_REGISTRY.register()
class DigitsNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16, in_channels: int = 1,
                 batch_norm: bool = True):
        super().__init__()

        def block(cin, cout):
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU(inplace=True))
            return layers

        self.features = nn.Sequential(
            *block(in_channels, width), *block(width, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 2 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
