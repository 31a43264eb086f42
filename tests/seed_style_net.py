"""A network trained the seed's way: the model calls ``forward_train``, which calls
``self(x)`` (tests/model/test_compile.py, tests/model/test_method_calls.py). Defined
in a module, so that it pickles."""
import torch
from torch import nn


class SeedStyleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)

    def forward_train(self, x, target):
        return torch.nn.functional.cross_entropy(self(x), target)
