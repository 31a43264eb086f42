"""Exponential moving average of a network, with torch's own AveragedModel.

``use_buffers=True`` averages buffers too (BatchNorm statistics), so the EMA network can
be evaluated and exported as it is.
"""
from typing import Optional

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..utils.errors import ConfigError

__all__ = ["build_ema"]


def build_ema(network: torch.nn.Module, node, where: str = "trainer.model.ema") -> Optional[AveragedModel]:
    if not node or not node.get("ENABLE", False):
        return None
    decay = float(node.get("DECAY_RATE", 0.9999))
    if not 0.0 < decay < 1.0:
        raise ConfigError(f"{where}.decay_rate must be in (0, 1), got {decay}")
    ema = AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.requires_grad_(False)
    return ema
