"""Each loss against an independent computation (numpy formulas written here, a plain
loop for SSIM, hand-applied VGG layers for VggLoss, torch.nn.functional): the engine's
FocalLoss and DiceLoss, the seed's segmentation/image losses, its torch.nn wrappers and
GeneralizedCELoss, with the seed's options, positional orders and target shapes; their
``lambda_weight`` (in the constructor, as the seed builds them in Python, or from a config:
applied once); the seed's loss module paths and names. (Margin losses:
test_margin_losses.py; compositions: test_loss_compose.py.)"""
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


NEW = ["BinaryDiceLoss", "GeneralizedDiceLoss", "IOULoss", "OnlineHardExampleMiningCELoss",
       "SSIMLoss", "VggLoss"]


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


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_one_hot(labels, classes):
    """N x H x W indices -> N x C x H x W."""
    return (np.arange(classes)[None, :, None, None] == labels[:, None]).astype(np.float64)


def np_bce_logits(x, t):
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def loss(name, **param):
    return build_loss(dict(name=name, param=param))


@pytest.fixture
def logits_and_labels():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 4, generator=g), torch.tensor([0, 1, 2, 3, 1, 0])


LOGITS = torch.randn(2, 3, 5, 4, generator=gen(0), dtype=torch.float64)


LABELS = torch.randint(0, 3, (2, 5, 4), generator=gen(1))

LABELS[0, 0] = 255


# ----------------------------------------------- registered, and under the seed's module paths

def test_every_seed_loss_is_registered_and_built_from_a_config():
    for name in NEW:
        assert name in LOSS_ARCH_REGISTRY, name


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


def test_importing_the_seed_torch_loss_module_changes_no_config_name():
    before = {n: LOSS_ARCH_REGISTRY.get(n) for n in LOSS_ARCH_REGISTRY.registered_names()}
    for mod in ("engine.loss.torch_loss", "engine.compat.seed.loss.torch_loss"):
        sys.modules.pop(mod, None)
    importlib.import_module("engine.loss.torch_loss")
    after = {n: LOSS_ARCH_REGISTRY.get(n) for n in LOSS_ARCH_REGISTRY.registered_names()}
    assert after == before
    assert LOSS_ARCH_REGISTRY.get("HuberLoss") is torch.nn.HuberLoss  # the seed did not wrap it


# ---------------------------- lambda_weight: in the constructor or from a config, applied once

_g = gen(0)
SEG_LOGITS, SEG_MASK = torch.randn(2, 3, 8, 8, generator=_g), torch.randint(0, 3, (2, 8, 8), generator=_g)
BINARY, BINARY_MASK = torch.randn(2, 1, 8, 8, generator=_g), torch.randint(0, 2, (2, 1, 8, 8), generator=_g).float()
CASES = {
    "DiceLoss": ({}, (SEG_LOGITS, SEG_MASK)),
    "BinaryDiceLoss": ({}, (BINARY, BINARY_MASK)),
    "GeneralizedDiceLoss": ({}, (SEG_LOGITS, SEG_MASK)),
    "FocalLoss": ({}, (SEG_LOGITS, SEG_MASK)),
    "IOULoss": ({}, (BINARY, BINARY_MASK)),
    "SSIMLoss": ({}, (BINARY, BINARY_MASK)),
    "OnlineHardExampleMiningCELoss": ({"thresh": 0.9}, (SEG_LOGITS, SEG_MASK)),
    "CosFaceLoss": ({"in_features": 4, "num_classes": 3}, (torch.randn(6, 4, generator=_g), torch.tensor([0, 1, 2, 0, 1, 2]))),
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
    alone = LOSS_ARCH_REGISTRY.get("DiceLoss")()(SEG_LOGITS, SEG_MASK)
    assert torch.allclose(compose(dict(seg=[(SEG_LOGITS, SEG_MASK)])), 3.0 * alone)


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


# ----------------------------------------------------------------------------------- FocalLoss

def test_focal_loss_with_gamma_zero_is_cross_entropy(logits_and_labels):
    logits, labels = logits_and_labels
    labels = labels.clone()
    labels[2] = -100
    weight = [0.5, 1.0, 2.0, 1.5]
    focal = build_loss(dict(name="FocalLoss", param=dict(gamma=0.0, weight=weight)))
    expected = F.cross_entropy(logits, labels, weight=torch.tensor(weight))
    torch.testing.assert_close(focal(logits, labels), expected)


def test_focal_loss_down_weights_by_one_minus_p_to_the_gamma(logits_and_labels):
    logits, labels = logits_and_labels
    p_t = logits.softmax(1)[torch.arange(6), labels]
    expected = ((1 - p_t) ** 2 * -p_t.log()).mean()
    torch.testing.assert_close(build_loss(dict(name="FocalLoss"))(logits, labels), expected)


# -------------------------------------------------------------------- DiceLoss, BinaryDiceLoss

def test_dice_loss_is_one_minus_mean_class_overlap():
    logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 1.0, 0.0]]]).permute(1, 0, 2)  # 1x2x3
    target = torch.tensor([[0, 1, 1]])
    p = logits.softmax(1)[0]
    t = F.one_hot(target[0], 2).T.float()
    dice = (2 * (p * t).sum(1) + 1.0) / (p.sum(1) + t.sum(1) + 1.0)
    out = build_loss(dict(name="DiceLoss"))(logits, target)
    torch.testing.assert_close(out, 1 - dice.mean())


def test_dice_loss_of_a_perfect_binary_mask_is_near_zero():
    mask = torch.tensor([[[0.0, 1.0], [1.0, 1.0]]])
    out = build_loss(dict(name="DiceLoss", param=dict(smooth=0.0)))((mask * 40 - 20).unsqueeze(1), mask)
    assert out.item() < 1e-6


def np_binary_dice(logits, mask, smooth=1.0, eps=1e-5, sigmoid=True):
    p = np_sigmoid(logits) if sigmoid else logits
    t = mask.reshape(p.shape)
    inter, total = (p * t).sum(), p.sum() + t.sum()
    return 1.0 - (2 * inter + smooth) / (total + eps + smooth)


@pytest.mark.parametrize("target_shape", ["NHW", "N1HW"])
def test_binary_dice_is_one_minus_smoothed_dice_of_the_sigmoid(target_shape):
    logits = torch.randn(2, 1, 6, 5, generator=gen(0), dtype=torch.float64)
    mask = (torch.rand(2, 6, 5, generator=gen(1)) > 0.5).double()
    target = mask if target_shape == "NHW" else mask[:, None]
    got = loss("BinaryDiceLoss")(logits, target)
    assert got.item() == pytest.approx(np_binary_dice(logits.numpy(), mask.numpy()), rel=1e-10)


def test_binary_dice_without_sigmoid_takes_probabilities_and_weight_scales_it():
    prob = torch.rand(3, 1, 4, 4, generator=gen(2), dtype=torch.float64)
    mask = (torch.rand(3, 1, 4, 4, generator=gen(3)) > 0.3).double()
    got = loss("BinaryDiceLoss", apply_sigmoid=False, smooth=0.5, weight=2.0)(prob, mask)
    want = 2.0 * np_binary_dice(prob.numpy(), mask.numpy(), smooth=0.5, sigmoid=False)
    assert got.item() == pytest.approx(want, rel=1e-10)
    perfect = loss("BinaryDiceLoss", apply_sigmoid=False)(mask, mask)
    assert perfect.item() == pytest.approx(0.0, abs=1e-6)


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


# ------------------------------------------------------------------------- GeneralizedDiceLoss

def np_generalized_dice(logits, labels, ignore=None, per_sample=False, smooth=0.0, eps=1e-17):
    """Sudre et al. 2017, written per sample or over the batch, weights 1/area^2."""
    classes = logits.shape[1]
    p = np_softmax(logits)
    valid = np.ones_like(labels, dtype=np.float64) if ignore is None else (labels != ignore).astype(np.float64)
    t = np_one_hot(np.where(labels == ignore, 0, labels) if ignore is not None else labels, classes)
    p, t = p * valid[:, None], t * valid[:, None]
    groups = [(p[i:i + 1], t[i:i + 1]) for i in range(len(p))] if per_sample else [(p, t)]
    out = []
    for pg, tg in groups:
        num = den = 0.0
        for c in range(classes):
            area = tg[:, c].sum()
            w = 0.0 if area == 0 else 1.0 / area ** 2
            num += w * (pg[:, c] * tg[:, c]).sum()
            den += w * (pg[:, c].sum() + tg[:, c].sum())
        out.append(1.0 - (2 * num + smooth) / (den + eps + smooth))
    return float(np.mean(out))


def test_generalized_dice_weights_each_class_by_its_inverse_squared_area():
    logits = torch.randn(2, 4, 5, 6, generator=gen(4), dtype=torch.float64)
    labels = torch.randint(0, 3, (2, 5, 6), generator=gen(5))  # class 3 absent: weight 0
    got = loss("GeneralizedDiceLoss")(logits, labels)
    assert got.item() == pytest.approx(np_generalized_dice(logits.numpy(), labels.numpy()), rel=1e-9)
    one_hot = F.one_hot(labels, 4).movedim(-1, 1).double()
    assert loss("GeneralizedDiceLoss")(logits, one_hot).item() == pytest.approx(got.item(), rel=1e-12)


def test_generalized_dice_leaves_ignored_pixels_out_and_can_reduce_per_sample():
    logits = torch.randn(3, 3, 4, 4, generator=gen(6), dtype=torch.float64)
    labels = torch.randint(0, 3, (3, 4, 4), generator=gen(7))
    labels[:, 0] = 255
    got = loss("GeneralizedDiceLoss", ignore_index=255, reduce_over_batches=True)(logits, labels[:, None])
    want = np_generalized_dice(logits.numpy(), labels.numpy(), ignore=255, per_sample=True)
    assert got.item() == pytest.approx(want, rel=1e-9)
    per_sample = loss("GeneralizedDiceLoss", ignore_index=255, reduce_over_batches=True,
                      reduction="none")(logits, labels)
    assert per_sample.shape == (3,) and per_sample.mean().item() == pytest.approx(want, rel=1e-9)


def test_generalized_dice_refuses_class_weights_and_unknown_reductions():
    with pytest.raises(ConfigError, match="weight must be None"):
        loss("GeneralizedDiceLoss", weight=[1.0, 2.0])
    with pytest.raises(ConfigError, match="reduction must be one of"):
        loss("GeneralizedDiceLoss", reduction="avg")


def test_generalized_dice_of_half_precision_logits_is_computed_in_float32():
    logits = torch.randn(2, 3, 32, 32, generator=gen(22))
    labels = torch.randint(0, 3, (2, 32, 32), generator=gen(23))
    full = loss("GeneralizedDiceLoss")(logits, labels)
    half = loss("GeneralizedDiceLoss")(logits.half(), labels)
    assert torch.isfinite(half) and half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), abs=1e-3)


# ------------------------------------------------------------------------------------- IOULoss

def np_iou(prob, truth, smooth=1e-6):
    inter = (prob * truth).sum()
    return 1.0 - (inter + smooth) / (prob.sum() + truth.sum() - inter + smooth)


def test_iou_of_sigmoid_probabilities_and_a_binary_mask():
    logits = torch.randn(2, 1, 5, 5, generator=gen(8), dtype=torch.float64)
    mask = (torch.rand(2, 5, 5, generator=gen(9)) > 0.5).long()
    got = loss("IOULoss")(logits, mask)
    assert got.item() == pytest.approx(np_iou(np_sigmoid(logits.numpy()), mask.numpy()[:, None]), rel=1e-10)


def test_iou_with_softmax_over_classes_and_ignored_pixels():
    logits = torch.randn(2, 3, 4, 5, generator=gen(10), dtype=torch.float64)
    labels = torch.randint(0, 3, (2, 4, 5), generator=gen(11))
    labels[:, :, 0] = 255
    got = loss("IOULoss", apply_sigmoid=False, ignore_index=255)(logits, labels)
    lab = labels.numpy()
    valid = (lab != 255)[:, None].astype(np.float64)
    prob = np_softmax(logits.numpy()) * valid
    truth = np_one_hot(np.where(lab == 255, 0, lab), 3) * valid
    assert got.item() == pytest.approx(np_iou(prob, truth), rel=1e-10)
    mask = torch.tensor(truth[:, :1])
    perfect = loss("IOULoss", activation="none")(mask, mask)
    assert perfect.item() == pytest.approx(0.0, abs=1e-6)


def test_iou_activation_contradicting_apply_sigmoid_is_an_error():
    with pytest.raises(ConfigError, match="contradicts apply_sigmoid"):
        loss("IOULoss", apply_sigmoid=True, activation="softmax")


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


# -------------------------------------------------------------------------- OHEM cross-entropy

def np_ohem(logits, labels, thresh, ignore):
    """Per-pixel CE of the labelled pixels; mean of those above -log(thresh), or of the
    n_min = labelled // 16 largest when fewer are."""
    logp = np.log(np_softmax(logits))
    n, c = logits.shape[:2]
    flat_logp = np.moveaxis(logp, 1, -1).reshape(-1, c)
    flat = labels.reshape(-1)
    ce = np.array([0.0 if y == ignore else -flat_logp[i, y] for i, y in enumerate(flat)])
    n_min = int((flat != ignore).sum()) // 16
    hard = ce[ce > -np.log(thresh)]
    if len(hard) < n_min:
        hard = np.sort(ce)[::-1][:n_min]
    return hard.mean()


@pytest.mark.parametrize("thresh", [0.7, 1e-4])  # many hard pixels / fewer than n_min
def test_ohem_ce_averages_the_hard_pixels_or_the_n_min_hardest(thresh):
    logits = 2 * torch.randn(2, 4, 8, 8, generator=gen(12), dtype=torch.float64)
    labels = torch.randint(0, 4, (2, 8, 8), generator=gen(13))
    labels[0, :3] = 255
    got = loss("OnlineHardExampleMiningCELoss", thresh=thresh, ignore_lb=255)(logits, labels)
    want = np_ohem(logits.numpy(), labels.numpy(), thresh, 255)
    assert got.item() == pytest.approx(want, rel=1e-9)
    ce = F.cross_entropy(logits, labels, ignore_index=255, reduction="none")
    if thresh == 1e-4:  # the n_min branch was taken
        assert (ce > -np.log(thresh)).sum() < (labels != 255).sum() // 16


def test_ohem_ce_of_an_all_easy_tiny_batch_is_zero_not_nan():
    logits = torch.tensor([[[[9.0]], [[-9.0]]]], requires_grad=True)  # 1 x 2 x 1 x 1, sure of class 0
    value = loss("OnlineHardExampleMiningCELoss", thresh=0.7)(logits, torch.zeros(1, 1, 1, dtype=torch.long))
    assert value.item() == 0.0
    value.backward()


def test_ohem_thresh_outside_0_1_is_an_error():
    with pytest.raises(ConfigError, match="thresh is a probability"):
        loss("OnlineHardExampleMiningCELoss", thresh=1.5)


# --------------------------------------------------------------------------- GeneralizedCELoss

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


# -------------------------------------------------------------- SSIMLoss, SSIM (function.ssim)

def np_ssim(x, y, size=5, sigma=1.5, c1=0.01 ** 2, c2=0.03 ** 2):
    """Wang et al. 2004 by the definition: at every position where the window fits, the
    Gaussian-weighted means, variances and covariance; SSIM averaged over them all."""
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    values = []
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(x.shape[2] - size + 1):
                for j in range(x.shape[3] - size + 1):
                    a, b = x[n, c, i:i + size, j:j + size], y[n, c, i:i + size, j:j + size]
                    ma, mb = (w * a).sum(), (w * b).sum()
                    va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
                    cov = (w * (a - ma) * (b - mb)).sum()
                    values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_loss_of_images_is_one_minus_the_windowed_ssim():
    x = torch.rand(2, 3, 9, 8, generator=gen(14), dtype=torch.float64)
    y = (x + 0.2 * torch.rand(2, 3, 9, 8, generator=gen(15), dtype=torch.float64)).clamp(0, 1)
    got = loss("SSIMLoss", activation="none")(x, y)
    assert got.item() == pytest.approx(1.0 - np_ssim(x.numpy(), y.numpy()), rel=1e-9)
    assert loss("SSIMLoss", activation="none")(x, x).item() == pytest.approx(0.0, abs=1e-9)


def test_ssim_loss_on_logits_applies_the_sigmoid_and_one_hot_encodes_class_targets():
    logits = torch.randn(1, 3, 7, 7, generator=gen(16), dtype=torch.float64)
    labels = torch.randint(0, 3, (1, 7, 7), generator=gen(17))
    got = loss("SSIMLoss", window_size=5)(logits, labels)  # apply_sigmoid defaults to True
    want = 1.0 - np_ssim(np_sigmoid(logits.numpy()), np_one_hot(labels.numpy(), 3))
    assert got.item() == pytest.approx(want, rel=1e-9)
    soft = loss("SSIMLoss", apply_sigmoid=False)(logits, labels)
    assert soft.item() == pytest.approx(1.0 - np_ssim(np_softmax(logits.numpy()), np_one_hot(labels.numpy(), 3)), rel=1e-9)


def test_ssim_of_an_image_smaller_than_the_window_is_a_clear_error():
    with pytest.raises(EngineError, match="smaller than the 11 x 11 window"):
        loss("SSIMLoss", activation="none", window_size=11)(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


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


# -------------------------------------------------------------------------------- VggLoss, VGG

@pytest.fixture(scope="module")
def vgg11_file(tmp_path_factory):
    """A torchvision vgg11 state_dict with random weights (the features, plus one
    classifier key the loss must skip), saved locally: nothing is downloaded."""
    features = make_layers(VGG_LAYOUTS["A"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)
    path = tmp_path_factory.mktemp("vgg") / "vgg11.pth"
    torch.save(state, str(path))
    return str(path), state


def hand_vgg(x, state, layout):
    """The VGG feature stack applied layer by layer from the state_dict's tensors."""
    index = 0
    for item in layout:
        if item == "M":
            x = F.max_pool2d(x, 2, 2)
            index += 1
        else:
            x = F.relu(F.conv2d(x, state[f"features.{index}.weight"], state[f"features.{index}.bias"], padding=1))
            index += 2
    return x


def test_vgg_loss_is_the_mse_of_the_vgg_features_from_the_local_file(vgg11_file):
    path, state = vgg11_file
    vgg = loss("VggLoss", vgg_path=path, vgg_arch="vgg11")
    x = torch.rand(1, 3, 32, 32, generator=gen(18), requires_grad=True)
    y = torch.rand(1, 3, 32, 32, generator=gen(19))
    value = vgg(x, y)
    want = F.mse_loss(hand_vgg(x, state, VGG_LAYOUTS["A"]), hand_vgg(y, state, VGG_LAYOUTS["A"]))
    assert value.item() == pytest.approx(want.item(), rel=1e-5)
    value.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in vgg.parameters())   # frozen
    vgg.train()
    assert not vgg.features.training


def test_vgg_loss_weighted_in_a_composition(vgg11_file):
    path, _ = vgg11_file
    composed = LossCompose([dict(name="VggLoss", param=dict(lambda_weight=0.1, vgg_arch="vgg11", vgg_path=path))])
    x, y = torch.rand(1, 3, 32, 32, generator=gen(20)), torch.rand(1, 3, 32, 32, generator=gen(21))
    bare = loss("VggLoss", vgg_path=path, vgg_arch="vgg11")
    assert composed((x, y)).item() == pytest.approx(0.1 * bare(x, y).item(), rel=1e-6)


def test_vgg_loss_errors_name_the_file_and_the_arch(vgg11_file, tmp_path):
    path, _ = vgg11_file
    with pytest.raises(ConfigError, match=r"vgg_path '.*missing.pth' is not a file\. Nothing is downloaded"):
        loss("VggLoss", vgg_path=str(tmp_path / "missing.pth"), vgg_arch="vgg16")
    with pytest.raises(ConfigError, match=r"do not fit vgg_arch 'vgg16'"):
        loss("VggLoss", vgg_path=path, vgg_arch="vgg16")        # vgg11 weights, vgg16 layout
    with pytest.raises(ConfigError, match=r"do not fit vgg_arch 'vgg11_bn'"):
        loss("VggLoss", vgg_path=path, vgg_arch="vgg11_bn")
    with pytest.raises(ConfigError, match=r"vgg_arch 'resnet18' is not one of"):
        loss("VggLoss", vgg_path=path, vgg_arch="resnet18")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="could not be read as a state_dict"):
        loss("VggLoss", vgg_path=str(junk), vgg_arch="vgg11")
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(1)}, str(other))
    with pytest.raises(ConfigError, match=r"holds no 'features\.\*' weights"):
        loss("VggLoss", vgg_path=str(other), vgg_arch="vgg11")


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
