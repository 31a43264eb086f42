"""The engine's own losses take the seed's ``lambda_weight`` in their constructor (built
in Python, as the seed writes them); from a config it is applied once, by the loss
entry, never also by the constructor."""
import pytest
import torch

from engine.loss.build import LOSS_ARCH_REGISTRY
from engine.loss.pipe import LossKeyCompose

torch.manual_seed(0)
LOGITS, MASK = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
BINARY, BINARY_MASK = torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 1, 8, 8)).float()
CASES = {
    "DiceLoss": ({}, (LOGITS, MASK)),
    "BinaryDiceLoss": ({}, (BINARY, BINARY_MASK)),
    "GeneralizedDiceLoss": ({}, (LOGITS, MASK)),
    "FocalLoss": ({}, (LOGITS, MASK)),
    "IOULoss": ({}, (BINARY, BINARY_MASK)),
    "SSIMLoss": ({}, (BINARY, BINARY_MASK)),
    "OnlineHardExampleMiningCELoss": ({"thresh": 0.9}, (LOGITS, MASK)),
    "CosFaceLoss": ({"in_features": 4, "num_classes": 3}, (torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_lambda_weight_in_the_constructor_scales_the_loss(name):
    kwargs, inputs = CASES[name]
    cls = LOSS_ARCH_REGISTRY.get(name)
    torch.manual_seed(1)
    plain = cls(**kwargs)
    torch.manual_seed(1)
    weighted = cls(lambda_weight=2.5, **kwargs)  # the same initial weights (CosFace's class centres)
    expected = 2.5 * plain(*inputs)
    assert torch.allclose(weighted(*inputs), expected, rtol=1e-6), name
    assert float(plain(*inputs).detach()) != 0.0


def test_a_config_lambda_weight_is_applied_once():
    compose = LossKeyCompose(dict(seg=[dict(name="DiceLoss", param=dict(lambda_weight=3.0))]))
    alone = LOSS_ARCH_REGISTRY.get("DiceLoss")()(LOGITS, MASK)
    assert torch.allclose(compose(dict(seg=[(LOGITS, MASK)])), 3.0 * alone)
