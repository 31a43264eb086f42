"""The seed's losses take ``lambda_weight`` in their constructor and scale what they
return; the engine's own losses do too, so ``SSIMLoss(lambda_weight=0.5)`` written in
Python works as in the seed. In a config, ``param.lambda_weight`` is applied by the
loss entry (engine/loss/term.py) and not passed to the constructor: a loss is never
weighted twice."""
from torch import nn

__all__ = ["WeightedLoss"]


class WeightedLoss(nn.Module):
    def __init__(self, lambda_weight: float = 1.0):
        super().__init__()
        self.lambda_weight = float(lambda_weight)

    def __call__(self, *args, **kwargs):
        value = super().__call__(*args, **kwargs)
        return value if self.lambda_weight == 1.0 else value * self.lambda_weight
