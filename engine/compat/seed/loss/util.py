"""The seed's ``engine.loss.util``: its names for a loss's ``reduction`` strings, for
projects that compare against them (``reduction == LossReduction.MEAN.value``)."""
from enum import Enum

__all__ = ["LossReduction"]


class LossReduction(Enum):
    MEAN = "mean"
    SUM = "sum"
    NONE = "none"
