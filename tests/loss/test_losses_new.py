"""The seed's segmentation/image losses, each against an independent computation (numpy
formulas written here, a plain loop for SSIM, hand-applied VGG layers for VggLoss)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models.vgg import cfgs as VGG_LAYOUTS, make_layers

from engine.loss.build import LOSS_ARCH_REGISTRY, build_loss
from engine.loss.pipe import LossCompose
from engine.utils.errors import ConfigError, EngineError

NEW = ["BinaryDiceLoss", "GeneralizedDiceLoss", "IOULoss", "OnlineHardExampleMiningCELoss",
       "SSIMLoss", "VggLoss"]


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


def loss(name, **param):
    return build_loss(dict(name=name, param=param))


def test_every_seed_loss_is_registered_and_built_from_a_config():
    for name in NEW:
        assert name in LOSS_ARCH_REGISTRY, name


# ---------------------------------------------------------------- BinaryDiceLoss

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


# ---------------------------------------------------------------- GeneralizedDiceLoss

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


# ---------------------------------------------------------------- IOULoss

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


# ---------------------------------------------------------------- OHEM cross-entropy

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


# ---------------------------------------------------------------- SSIMLoss

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


# ---------------------------------------------------------------- VggLoss

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


def test_generalized_dice_of_half_precision_logits_is_computed_in_float32():
    logits = torch.randn(2, 3, 32, 32, generator=gen(22))
    labels = torch.randint(0, 3, (2, 32, 32), generator=gen(23))
    full = loss("GeneralizedDiceLoss")(logits, labels)
    half = loss("GeneralizedDiceLoss")(logits.half(), labels)
    assert torch.isfinite(half) and half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), abs=1e-3)
