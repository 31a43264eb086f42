"""CosFaceLoss and ArcFaceLoss against a NumPy computation written from the papers'
formulas, their class weights as trained parameters, and their input checks."""
import math

import numpy as np
import pytest
import torch

from engine.loss import LOSS_ARCH_REGISTRY, build_loss
from engine.loss.margin import ArcFaceLoss, CosFaceLoss


def reference(embeddings, weight, labels, scale, target_logit):
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    w = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    logits = e @ w.T
    rows = np.arange(len(labels))
    logits[rows, labels] = target_logit(logits[rows, labels])
    logits = scale * logits
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_p[rows, labels].mean()


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 5)), rng.integers(0, 4, size=12)


def test_cosface_subtracts_the_margin_from_the_true_cosine(batch):
    embeddings, labels = batch
    loss = CosFaceLoss(5, 4, scale=16.0, margin=0.3).double()
    got = loss(torch.from_numpy(embeddings), torch.from_numpy(labels)).item()
    want = reference(embeddings, loss.weight.detach().numpy(), labels, 16.0, lambda c: c - 0.3)
    assert got == pytest.approx(want, rel=1e-6)


def test_arcface_adds_the_margin_to_the_true_angle(batch):
    embeddings, labels = batch
    m = 0.5

    def arc(c):  # cos(theta + m), with the linear fall-back past theta > pi - m
        theta = np.arccos(np.clip(c, -1, 1))
        return np.where(theta + m < math.pi, np.cos(theta + m), c - m * math.sin(m))

    loss = ArcFaceLoss(5, 4, scale=30.0, margin=m).double()
    got = loss(torch.from_numpy(embeddings), torch.from_numpy(labels)).item()
    want = reference(embeddings, loss.weight.detach().numpy(), labels, 30.0, arc)
    assert got == pytest.approx(want, rel=1e-5)


def test_a_zero_margin_is_plain_scaled_cosine_softmax(batch):
    embeddings, labels = batch
    cos, arc = CosFaceLoss(5, 4, margin=0.0).double(), ArcFaceLoss(5, 4, margin=0.0).double()
    arc.weight.data.copy_(cos.weight.data)
    x, y = torch.from_numpy(embeddings), torch.from_numpy(labels)
    assert cos(x, y).item() == pytest.approx(arc(x, y).item(), rel=1e-6)


def test_class_weights_are_parameters_that_get_gradients_from_config(batch):
    embeddings, labels = batch
    loss = build_loss(dict(name="CosFaceLoss", param=dict(in_features=5, num_classes=4, lambda_weight=1.0)))
    assert "CosFaceLoss" in LOSS_ARCH_REGISTRY and "ArcFaceLoss" in LOSS_ARCH_REGISTRY
    assert [name for name, _ in loss.named_parameters()] == ["weight"]
    loss(torch.from_numpy(embeddings).float(), torch.from_numpy(labels)).backward()
    assert loss.weight.grad is not None and loss.weight.grad.abs().sum() > 0
    assert "weight" in loss.state_dict()


def test_bad_shapes_and_sizes_are_named():
    with pytest.raises(ValueError, match="expected N x 5 embeddings, got shape \\[3, 4\\]"):
        CosFaceLoss(5, 4)(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="num_classes >= 2"):
        ArcFaceLoss(5, 1)
