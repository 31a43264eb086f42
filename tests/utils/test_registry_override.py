"""A project's component may take a built-in's name (the seed's loss.md registers its own
``SSIMLoss``, which the engine also has): it replaces the built-in, with a warning; two of
the project's own classes under one name are still refused."""
import logging

import pytest
import torch

from engine.loss.build import LOSS_ARCH_REGISTRY, build_loss


@pytest.fixture
def restore_ssim():
    original = LOSS_ARCH_REGISTRY.get("SSIMLoss")
    yield
    LOSS_ARCH_REGISTRY._obj_map["SSIMLoss"] = original


def test_the_seed_custom_loss_example_replaces_the_built_in_ssim_loss(restore_ssim, caplog):
    with caplog.at_level(logging.WARNING, logger="engine"):
        @LOSS_ARCH_REGISTRY.register()
        class SSIMLoss(torch.nn.Module):  # loss.md's 自定义损失函数 example, filled in
            def __init__(self, lambda_weight=1.):
                super().__init__()
                self.lambda_weight = lambda_weight

            def forward(self, x, target):
                return self.lambda_weight * (x - target).abs().mean()

    assert LOSS_ARCH_REGISTRY.get("SSIMLoss") is SSIMLoss
    assert "replaces the engine's built-in SSIMLoss (engine.loss" in caplog.text
    loss = build_loss(dict(name="SSIMLoss", param=dict()), "trainer.model.loss")
    assert isinstance(loss, SSIMLoss)
    assert float(loss(torch.ones(3), torch.zeros(3))) == 1.0

    with pytest.raises(AssertionError, match="already registered"):
        @LOSS_ARCH_REGISTRY.register()
        class SSIMLoss(torch.nn.Module):  # noqa: F811  (a second project class, same name)
            pass
