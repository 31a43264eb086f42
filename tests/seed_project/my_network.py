"""The user's own network (the seed leaves it to the user)."""
import torch
from torch import nn

from engine.model.build import BUILD_NETWORK_REGISTRY


@BUILD_NETWORK_REGISTRY.register()
class MyNetwork(nn.Module):
    def __init__(self, my_network_param="my_network_param", num_classes=10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=4, padding=2), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=4, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
