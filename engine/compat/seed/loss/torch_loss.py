"""The seed's ``engine.loss.torch_loss``: the core's wrappers of ``torch.nn`` losses
(engine/loss/nn_losses.py), already registered under these names when ``engine.loss``
was imported, so importing this module changes no config name's meaning."""
from ....loss.nn_losses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss,
                               MultiLabelSoftMarginLoss, NLLLoss, SmoothL1Loss, SoftMarginLoss,
                               TripletMarginLoss, TripletMarginWithDistanceLoss)

__all__ = [
    "L1Loss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss",
    "SoftMarginLoss", "CrossEntropyLoss", "MultiLabelSoftMarginLoss", "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]
