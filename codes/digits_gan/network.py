"""MLP generator and discriminator for 8x8 grey digits in [-1, 1]."""
import torch
from torch import nn

from engine.model.build import BUILD_NETWORK_REGISTRY

__all__ = ["DigitsGenerator", "DigitsDiscriminator"]


@BUILD_NETWORK_REGISTRY.register()
class DigitsGenerator(nn.Module):
    """``z`` (N x z_dim) -> images N x 1 x 8 x 8 in [-1, 1]."""

    def __init__(self, z_dim: int = 32, hidden: int = 256, size: int = 8):
        super().__init__()
        self.z_dim, self.size = z_dim, size
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, size * size), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.size, self.size)


@BUILD_NETWORK_REGISTRY.register()
class DigitsDiscriminator(nn.Module):
    """Images N x 1 x 8 x 8 -> one logit each (real > 0)."""

    def __init__(self, hidden: int = 256, size: int = 8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(size * size, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)
