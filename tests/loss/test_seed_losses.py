"""The seed's loss modules and names (engine.loss.ce_loss, .torch_loss, .function.ssim...):
each imports, and each loss is checked against a computation written here (numpy
formulas, torch.nn.functional), including the seed's options and target shapes."""
import importlib
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torchvision.models.vgg import cfgs as VGG_LAYOUTS, make_layers

import engine.loss
from engine.loss.build import LOSS_ARCH_REGISTRY, build_loss
from engine.loss.pipe import LossCompose, LossKeyCompose
from engine.utils.errors import ConfigError, EngineError

SEED_NAMES = {
    "engine.loss": ["LOSS_ARCH_REGISTRY", "LossCompose", "LossKeyCompose", "LossKeyCompose2",
                    "GeneralizedCELoss", "BinaryDiceLoss", "GeneralizedDiceLoss", "IOULoss",
                    "SSIMLoss", "VggLoss", "CrossEntropyLoss", "MSELoss", "TripletMarginLoss"],
    "engine.loss.ce_loss": ["GeneralizedCELoss"],
    "engine.loss.dice_loss": ["BinaryDiceLoss", "GeneralizedDiceLoss"],
    "engine.loss.iou_loss": ["IOULoss"],
    "engine.loss.ssim_loss": ["SSIMLoss"],
    "engine.loss.ohemce_loss": ["OnlineHardExampleMiningCELoss"],
    "engine.loss.vgg_loss": ["VGG", "VggLoss"],
    "engine.loss.function.ssim": ["SSIM"],
    "engine.loss.util": ["LossReduction"],
    "engine.loss.pipe": ["LossContainer", "LossItem", "dict2lower", "LossCompose", "LossKeyCompose2"],
    "engine.loss.torch_loss": ["L1Loss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss",
                               "SmoothL1Loss", "SoftMarginLoss", "CrossEntropyLoss",
                               "MultiLabelSoftMarginLoss", "TripletMarginLoss",
                               "TripletMarginWithDistanceLoss"],
}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def np_bce_logits(x, t):
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


@pytest.mark.parametrize("module", sorted(SEED_NAMES))
def test_every_seed_loss_name_imports(module):
    mod = importlib.import_module(module)
    missing = [n for n in SEED_NAMES[module] if not hasattr(mod, n)]
    assert not missing, (module, missing)


def test_the_seed_paths_hand_out_the_core_classes():
    from engine.loss.ce_loss import GeneralizedCELoss
    from engine.loss.function.ssim import SSIM
    from engine.loss.torch_loss import CrossEntropyLoss
    assert LOSS_ARCH_REGISTRY.get("GeneralizedCELoss") is GeneralizedCELoss is engine.loss.GeneralizedCELoss
    assert LOSS_ARCH_REGISTRY.get("CrossEntropyLoss") is CrossEntropyLoss is engine.loss.CrossEntropyLoss
    assert issubclass(CrossEntropyLoss, torch.nn.CrossEntropyLoss)
    assert SSIM is engine.loss.ssim.SSIM
    from engine.loss.util import LossReduction
    assert [r.value for r in LossReduction] == ["mean", "sum", "none"]


# ------------------------------------------------------------------ GeneralizedCELoss

LOGITS = torch.randn(2, 3, 5, 4, generator=gen(0), dtype=torch.float64)
LABELS = torch.randint(0, 3, (2, 5, 4), generator=gen(1))
LABELS[0, 0] = 255


@pytest.mark.parametrize("shape", ["NHW", "N1HW"])
def test_generalized_ce_softmax_is_cross_entropy_averaged_over_every_pixel(shape):
    from engine.loss.ce_loss import GeneralizedCELoss
    target = LABELS if shape == "NHW" else LABELS[:, None]
    per_pixel = F.cross_entropy(LOGITS, LABELS, ignore_index=255, reduction="none")
    got = GeneralizedCELoss(ignore_index=255)(LOGITS, target)
    assert got.item() == pytest.approx(per_pixel.sum().item() / LABELS.numel(), rel=1e-12)
    non_ignore = GeneralizedCELoss(ignore_index=255, avg_non_ignore=True)(LOGITS, target)
    assert non_ignore.item() == pytest.approx(F.cross_entropy(LOGITS, LABELS, ignore_index=255).item())
    assert torch.equal(GeneralizedCELoss(ignore_index=255, reduction="none")(LOGITS, target), per_pixel)
    clean = LABELS.clamp(max=2)  # ignore_index=None: no label ignored (the seed raises TypeError)
    assert GeneralizedCELoss()(LOGITS, clean).item() == pytest.approx(F.cross_entropy(LOGITS, clean).item())


@pytest.mark.parametrize("shape", ["NHW", "N1HW"])
def test_generalized_ce_sigmoid_one_channel_is_bce_of_the_logits_once(shape):
    from engine.loss.ce_loss import GeneralizedCELoss
    logits = LOGITS[:, :1]
    mask = torch.randint(0, 2, (2, 5, 4), generator=gen(2))
    mask[1, 2] = 255
    valid = (mask != 255).numpy()
    want = np_bce_logits(logits[:, 0].numpy(), np.where(valid, mask.numpy(), 0)) * valid
    target = mask if shape == "NHW" else mask[:, None]
    loss = GeneralizedCELoss(apply_sigmoid=True, ignore_index=255)
    assert loss(logits, target).item() == pytest.approx(want.mean(), rel=1e-12)
    twice = np_bce_logits(1 / (1 + np.exp(-logits[:, 0].numpy())), np.where(valid, mask.numpy(), 0)) * valid
    assert abs(loss(logits, target).item() - twice.mean()) > 1e-3  # not the seed's sigmoid applied twice
    summed = GeneralizedCELoss(apply_sigmoid=True, ignore_index=255, reduction="sum")(logits, target)
    assert summed.item() == pytest.approx(want.sum(), rel=1e-12)
    with pytest.raises(EngineError, match="0/1 mask"):
        GeneralizedCELoss(apply_sigmoid=True)(logits, mask)  # 255 is a label without ignore_index


def test_generalized_ce_sigmoid_many_channels_is_one_hot_bce():
    from engine.loss.ce_loss import GeneralizedCELoss
    valid = (LABELS != 255).numpy()[:, None]
    one_hot = (np.arange(3)[None, :, None, None] == LABELS.numpy()[:, None]).astype(np.float64)
    elementwise = np_bce_logits(LOGITS.numpy(), one_hot) * valid
    got = GeneralizedCELoss(apply_sigmoid=True, ignore_index=255)(LOGITS, LABELS[:, None])
    assert got.item() == pytest.approx(elementwise.mean(), rel=1e-12)
    avg = GeneralizedCELoss(apply_sigmoid=True, ignore_index=255, avg_non_ignore=True)(LOGITS, LABELS)
    assert avg.item() == pytest.approx(elementwise.sum() / (valid.sum() * 3), rel=1e-12)


def test_generalized_ce_by_config_name_weighted_once():
    target = LABELS.clamp(max=2)
    compose = LossKeyCompose(dict(seg=[dict(name="GeneralizedCELoss", param=dict(lambda_weight=3.0))]))
    assert compose((LOGITS, target))["seg"].item() == pytest.approx(3.0 * F.cross_entropy(LOGITS, target).item())
    from engine.loss.ce_loss import GeneralizedCELoss
    python = GeneralizedCELoss(False, None, "mean", 3.0)  # the seed's positional order
    assert python(LOGITS, target).item() == pytest.approx(3.0 * F.cross_entropy(LOGITS, target).item())
    with pytest.raises(ConfigError, match="reduction"):
        GeneralizedCELoss(reduction="avg")  # the seed returns the unreduced map silently


# ------------------------------------------------------------------ torch.nn wrappers

X, Y = torch.randn(4, 3, generator=gen(3)), torch.randn(4, 3, generator=gen(4))
P, S = torch.rand(4, 3, generator=gen(5)), (torch.rand(4, 3, generator=gen(6)) > 0.5).float()
SIGN = torch.where(S > 0, 1.0, -1.0)
A, B, C = (torch.randn(4, 5, generator=gen(i)) for i in (7, 8, 9))
WRAPPERS = {
    "L1Loss": ((X, Y), F.l1_loss(X, Y)),
    "MSELoss": ((X, Y), F.mse_loss(X, Y)),
    "SmoothL1Loss": ((X, Y), F.smooth_l1_loss(X, Y)),
    "BCELoss": ((P, S), F.binary_cross_entropy(P, S)),
    "BCEWithLogitsLoss": ((X, S), F.binary_cross_entropy_with_logits(X, S)),
    "SoftMarginLoss": ((X, SIGN), F.soft_margin_loss(X, SIGN)),
    "MultiLabelSoftMarginLoss": ((X, S), F.multilabel_soft_margin_loss(X, S)),
    "NLLLoss": ((X.log_softmax(1), LABELS[:, 0, 0].clamp(max=2).repeat(2)), None),
    "CrossEntropyLoss": ((X, LABELS[:, 0, 0].clamp(max=2).repeat(2)), None),
    "TripletMarginLoss": ((A, B, C), F.triplet_margin_loss(A, B, C)),
    "TripletMarginWithDistanceLoss": ((A, B, C), F.triplet_margin_with_distance_loss(A, B, C)),
}
WRAPPERS["NLLLoss"] = (WRAPPERS["NLLLoss"][0], F.nll_loss(*WRAPPERS["NLLLoss"][0]))
WRAPPERS["CrossEntropyLoss"] = (WRAPPERS["CrossEntropyLoss"][0], F.cross_entropy(*WRAPPERS["CrossEntropyLoss"][0]))


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_torch_wrappers_take_lambda_weight_first_and_apply_it_once(name):
    import engine.loss.torch_loss as seed_module
    inputs, want = WRAPPERS[name]
    cls = getattr(seed_module, name)
    assert cls(2.5)(*inputs).item() == pytest.approx(2.5 * want.item(), rel=1e-6)
    from_config = LossCompose([dict(name=name, param=dict(lambda_weight=2.5))])(inputs)
    assert from_config.item() == pytest.approx(2.5 * want.item(), rel=1e-6)
    assert build_loss(name, lambda_weight=2.5)(*inputs).item() == pytest.approx(2.5 * want.item(), rel=1e-6)


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss"])
def test_index_targets_n1hw_are_read_as_nhw(name):
    logits = LOGITS.log_softmax(1) if name == "NLLLoss" else LOGITS
    want = getattr(F, "nll_loss" if name == "NLLLoss" else "cross_entropy")(logits, LABELS, ignore_index=255)
    loss = LossCompose([dict(name=name, param=dict(ignore_index=255, lambda_weight=2.0))])
    assert loss((logits, LABELS[:, None])).item() == pytest.approx(2.0 * want.item(), rel=1e-12)
    soft = torch.softmax(torch.randn(4, 3, generator=gen(10)), 1)  # probabilities stay torch's
    assert engine.loss.CrossEntropyLoss()(X, soft).item() == pytest.approx(F.cross_entropy(X, soft).item())


def test_importing_the_seed_torch_loss_module_changes_no_config_name():
    before = {n: LOSS_ARCH_REGISTRY.get(n) for n in LOSS_ARCH_REGISTRY.registered_names()}
    for mod in ("engine.loss.torch_loss", "engine.compat.seed.loss.torch_loss"):
        sys.modules.pop(mod, None)
    importlib.import_module("engine.loss.torch_loss")
    after = {n: LOSS_ARCH_REGISTRY.get(n) for n in LOSS_ARCH_REGISTRY.registered_names()}
    assert after == before
    assert LOSS_ARCH_REGISTRY.get("HuberLoss") is torch.nn.HuberLoss  # the seed did not wrap it


# ------------------------------------------------------------------ overlap losses, seed order

MASK_LOGITS = torch.randn(2, 1, 6, 6, generator=gen(11), dtype=torch.float64)
MASK = torch.randint(0, 2, (2, 6, 6), generator=gen(12))
MASK[0, :2] = 255


def test_binary_dice_ignore_index_leaves_pixels_out():
    from engine.loss.dice_loss import BinaryDiceLoss
    valid = (MASK != 255).numpy()
    p = 1 / (1 + np.exp(-MASK_LOGITS[:, 0].numpy())) * valid
    t = np.where(valid, MASK.numpy(), 0)
    want = 1 - (2 * (p * t).sum() + 1.0) / (p.sum() + t.sum() + 1e-5 + 1.0)
    assert BinaryDiceLoss(ignore_index=255)(MASK_LOGITS, MASK[:, None]).item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("apply_sigmoid", [True, False])
def test_iou_loss_seed_order_sigmoid_softmax_and_ignore_index(apply_sigmoid):
    from engine.loss.iou_loss import IOULoss
    logits = LOGITS if not apply_sigmoid else LOGITS[:, :1]
    labels = LABELS if not apply_sigmoid else torch.where(LABELS == 255, LABELS, LABELS.clamp(max=1))
    valid = (labels != 255).numpy()[:, None]
    x = logits.numpy()
    prob = 1 / (1 + np.exp(-x)) if apply_sigmoid else np.exp(x) / np.exp(x).sum(1, keepdims=True)
    classes = x.shape[1]
    truth = (np.where(valid[:, 0], labels.numpy(), 0)[:, None] if classes == 1 else
             (np.arange(classes)[None, :, None, None] == labels.numpy()[:, None]))
    p, t = prob * valid, truth * valid
    inter = (p * t).sum()
    want = 1 - (inter + 1e-6) / (p.sum() + t.sum() - inter + 1e-6)
    got = IOULoss(0.5, apply_sigmoid, 255)(logits, labels[:, None])  # lambda_weight first, as the seed
    assert got.item() == pytest.approx(0.5 * want, rel=1e-10)


def test_ssim_loss_and_ohem_take_the_seed_positional_order():
    from engine.loss.ohemce_loss import OnlineHardExampleMiningCELoss
    from engine.loss.ssim_loss import SSIMLoss
    target = (torch.rand(1, 1, 8, 8, generator=gen(13)) > 0.5).double()
    logits = torch.randn(1, 1, 8, 8, generator=gen(14), dtype=torch.float64)
    assert SSIMLoss(0.5)(logits, target).item() == pytest.approx(0.5 * SSIMLoss()(logits, target).item())
    ohem = OnlineHardExampleMiningCELoss(0.7, 255, "cpu")  # the seed's (thresh, ignore_lb, device)
    per_pixel = F.cross_entropy(LOGITS, LABELS, ignore_index=255, reduction="none").flatten()
    hard = per_pixel[per_pixel > -np.log(0.7)]
    assert ohem(LOGITS, LABELS).item() == pytest.approx(hard.mean().item(), rel=1e-12)


# ------------------------------------------------------------------ SSIM (function.ssim)

def np_ssim_cs(x, y, size=5, sigma=1.5):
    g = np.array([np.exp(-(i - size // 2) ** 2 / (2 * sigma ** 2)) for i in range(size)])
    w = np.outer(g, g) / np.outer(g, g).sum()
    wx, wy = (sliding_window_view(a, (size, size), axis=(2, 3)) for a in (x, y))
    mean = lambda a: (a * w).sum(axis=(-2, -1))  # noqa: E731
    mx, my = mean(wx), mean(wy)
    vx, vy, cov = mean(wx * wx) - mx ** 2, mean(wy * wy) - my ** 2, mean(wx * wy) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    cs = (2 * cov + c2) / (vx + vy + c2)
    return ((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs).mean(), cs.mean()


def test_ssim_module_single_and_multi_scale_against_numpy():
    from engine.loss.function.ssim import SSIM
    x = torch.rand(2, 2, 80, 80, generator=gen(15), dtype=torch.float64)
    y = (x + 0.2 * torch.rand(2, 2, 80, 80, generator=gen(16), dtype=torch.float64)).clamp(0, 1)
    single = SSIM(is_multi_scale=False)(x[..., :12, :12], y[..., :12, :12]).item()
    assert single == pytest.approx(np_ssim_cs(x[..., :12, :12].numpy(), y[..., :12, :12].numpy())[0], rel=1e-10)
    weights, terms, a, b = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333], [], x.numpy(), y.numpy()
    for level in range(5):
        s, cs = np_ssim_cs(a, b)
        terms.append(s if level == 4 else cs)
        if level < 4:
            a, b = (v.reshape(2, 2, v.shape[2] // 2, 2, v.shape[3] // 2, 2).mean((3, 5)) for v in (a, b))
    want = np.prod([t ** w for t, w in zip(terms, weights)])  # each term to its weight, once
    assert SSIM(alpha=0.9)(x, y).item() == pytest.approx(want, rel=1e-10)
    assert SSIM()(x, x).item() == pytest.approx(1.0)
    with pytest.raises(EngineError, match="at least 80 x 80"):
        SSIM()(x[..., :40, :40], y[..., :40, :40])


def test_vgg_module_is_the_features_of_the_local_weights(tmp_path):
    from engine.loss.vgg_loss import VGG
    features = make_layers(VGG_LAYOUTS["A"])
    path = str(tmp_path / "vgg11.pth")
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    vgg = VGG(path, "vgg11").train()
    x = torch.rand(1, 3, 32, 32, generator=gen(17))
    assert torch.allclose(vgg(x), features.eval()(x), atol=1e-6)
    assert not vgg.features.training and not any(p.requires_grad for p in vgg.parameters())
    assert sorted(vgg.state_dict()) == sorted(f"features.{k}" for k in features.state_dict())


# ------------------------------------------------------------------ pipe extras

def test_loss_container_item_and_dict2lower():
    from engine.loss.pipe import LossContainer, LossItem, dict2lower
    from engine.loss.torch_loss import L1Loss, MSELoss
    assert dict2lower({"LAMBDA_WEIGHT": 1, "Reduction": "sum"}) == {"lambda_weight": 1, "reduction": "sum"}
    by_name = dict(target_tensor=Y, input_tensor=X)
    item = LossItem(MSELoss(2.0), ["input_tensor", "target_tensor"])  # the seed's assert always failed
    assert item(by_name).item() == pytest.approx(2.0 * F.mse_loss(X, Y).item())
    with pytest.raises(ConfigError, match="input names"):
        item(dict(input_tensor=X))
    named = LossContainer()
    named.add(MSELoss(), ["input_tensor", "target_tensor"])
    named.add(L1Loss(0.5), ("target_tensor", "input_tensor"))
    assert named(by_name).item() == pytest.approx((F.mse_loss(X, Y) + 0.5 * F.l1_loss(X, Y)).item())
    positional = LossContainer()
    positional.add(MSELoss(), "")
    assert positional((X, Y)).item() == pytest.approx(F.mse_loss(X, Y).item())
    with pytest.raises(ConfigError):
        named((X, Y))
