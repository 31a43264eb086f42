import torch
import torch.nn as nn

from engine.model.build import BUILD_NETWORK_REGISTRY


@BUILD_NETWORK_REGISTRY.register()
class BoxNet(nn.Module):
    """One box and one class per image (the scenes hold one digit)."""

    def __init__(self, num_classes, channels, img_size):
        super(BoxNet, self).__init__()
        layers, cin = [], 3
        for c in channels:
            layers += [nn.Conv2d(cin, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU(True)]
            cin = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.box = nn.Linear(cin * 4, 4)
        self.cls = nn.Linear(cin * 4, num_classes)
        self.img_size = img_size

    def forward(self, img):
        f = self.features(img)
        return torch.sigmoid(self.box(f)) * self.img_size, self.cls(f)
