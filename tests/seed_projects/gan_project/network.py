import torch.nn as nn

from engine.model.build import BUILD_NETWORK_REGISTRY


@BUILD_NETWORK_REGISTRY.register()
class Generator(nn.Module):
    def __init__(self, z_dim=16, hidden=64):
        super(Generator, self).__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(True), nn.Linear(hidden, 64), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 8, 8)


@BUILD_NETWORK_REGISTRY.register()
class Discriminator(nn.Module):
    def __init__(self, hidden=64):
        super(Discriminator, self).__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.LeakyReLU(0.2, True), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)
