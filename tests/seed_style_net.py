"""A network used the seed's way: the model trains through ``forward_train``, which calls
``self(x)``, and its generator predicts through ``forward_test`` (tests/model/test_compile.py,
tests/model/test_method_calls.py, tests/export/test_default_wrapper.py). Defined in a
module, so that it pickles."""
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

    def forward_test(self, x, gt=None):
        return self(x).argmax(-1)
