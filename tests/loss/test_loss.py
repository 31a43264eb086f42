"""Loss registry, weighted compositions, input routing and their error messages."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from yacs.config import CfgNode

from engine.loss.build import LOSS_ARCH_REGISTRY, build_loss
from engine.loss.pipe import LossCompose, LossKeyCompose
from engine.utils.errors import ConfigError

SEED_LOSS_CFG = dict(
    loss1=[dict(name="CrossEntropyLoss", param=dict(lambda_weight=10.0))],
    loss2=[
        dict(name="CrossEntropyLoss", param=dict(lambda_weight=1.0),
             input_name=["input_tensor", "target_tensor"])
    ],
)


@pytest.fixture
def logits_and_labels():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 4, generator=g), torch.tensor([0, 1, 2, 3, 1, 0])


@pytest.fixture
def pred_and_target():
    g = torch.Generator().manual_seed(1)
    return torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)


def test_torch_losses_are_registered_under_their_class_names():
    for name in ("CTCLoss", "HuberLoss", "KLDivLoss"):
        assert LOSS_ARCH_REGISTRY.get(name) is getattr(nn, name)
    # the eleven the seed wrapped: its subclass (lambda_weight, N x 1 x H x W index targets)
    for name in ("CrossEntropyLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss", "TripletMarginLoss"):
        cls = LOSS_ARCH_REGISTRY.get(name)
        assert issubclass(cls, getattr(nn, name)) and cls.__module__ == "engine.loss.nn_losses"


def test_lambda_weights_scale_each_loss_in_the_sum(pred_and_target):
    pred, target = pred_and_target
    loss = LossCompose([
        dict(name="MSELoss", param=dict(lambda_weight=2.0)),
        dict(name="L1Loss", param=dict(lambda_weight=0.5)),
    ])
    expected = 2.0 * F.mse_loss(pred, target) + 0.5 * F.l1_loss(pred, target)
    out = loss((pred, target))
    assert out.dim() == 0
    torch.testing.assert_close(out, expected)


def test_lambda_weight_defaults_to_one(pred_and_target):
    pred, target = pred_and_target
    torch.testing.assert_close(LossCompose([dict(name="MSELoss")])((pred, target)),
                               F.mse_loss(pred, target))


def test_other_params_reach_the_loss_constructor(pred_and_target):
    pred, target = pred_and_target
    loss = LossCompose([dict(name="MSELoss", param=dict(lambda_weight=3.0, reduction="sum"))])
    torch.testing.assert_close(loss((pred, target)), 3.0 * F.mse_loss(pred, target, reduction="sum"))


def test_a_list_given_for_a_tensor_parameter_becomes_a_tensor(logits_and_labels):
    logits, labels = logits_and_labels
    loss = LossCompose([dict(name="CrossEntropyLoss", param=dict(weight=[1.0, 2.0, 3.0, 4.0]))])
    expected = F.cross_entropy(logits, labels, weight=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(loss((logits, labels)), expected)


def test_key_compose_returns_one_weighted_sum_per_key(pred_and_target):
    pred, target = pred_and_target
    loss = LossKeyCompose(dict(
        rec=[dict(name="MSELoss", param=dict(lambda_weight=2.0)),
             dict(name="L1Loss", param=dict(lambda_weight=1.0))],
        smooth=[dict(name="SmoothL1Loss", param=dict(lambda_weight=0.1, beta=0.5))],
    ))
    out = loss((pred, target))
    assert list(out) == ["rec", "smooth"]
    torch.testing.assert_close(out["rec"], 2 * F.mse_loss(pred, target) + F.l1_loss(pred, target))
    torch.testing.assert_close(out["smooth"], 0.1 * F.smooth_l1_loss(pred, target, beta=0.5))


def test_tuple_inputs_go_positionally_to_every_loss_even_with_input_name(logits_and_labels):
    logits, labels = logits_and_labels
    out = LossKeyCompose(SEED_LOSS_CFG)((logits, labels))
    ce = F.cross_entropy(logits, labels)
    torch.testing.assert_close(out["loss1"], 10.0 * ce)
    torch.testing.assert_close(out["loss2"], ce)


def test_dict_inputs_are_picked_by_input_name_in_order():
    prob, label = torch.tensor([0.9, 0.2, 0.6]), torch.tensor([1.0, 0.0, 0.0])
    loss = LossCompose([dict(name="BCELoss", input_name=["prob", "label"])])
    out = loss({"label": label, "unused": torch.zeros(1), "prob": prob})
    torch.testing.assert_close(out, F.binary_cross_entropy(prob, label))


def test_each_entry_of_one_list_reads_its_own_input_names(pred_and_target):
    pred, target = pred_and_target
    other = torch.zeros_like(pred)
    loss = LossCompose([
        dict(name="MSELoss", input_name=["pred", "target"]),
        dict(name="L1Loss", param=dict(lambda_weight=4.0), input_name=["pred", "other"]),
    ])
    out = loss(dict(pred=pred, target=target, other=other))
    torch.testing.assert_close(out, F.mse_loss(pred, target) + 4.0 * F.l1_loss(pred, other))


def test_a_dict_keyed_by_loss_key_gives_each_key_its_own_inputs(pred_and_target):
    pred, target = pred_and_target
    loss = LossKeyCompose(dict(
        a=[dict(name="MSELoss")],
        b=[dict(name="L1Loss", input_name=["x", "y"])],
    ))
    out = loss({"a": (pred, target), "B": {"x": target, "y": pred * 2}})
    torch.testing.assert_close(out["a"], F.mse_loss(pred, target))
    torch.testing.assert_close(out["b"], F.l1_loss(target, pred * 2))


def test_the_seeds_config_works_with_named_inputs(logits_and_labels):
    logits, labels = logits_and_labels
    loss = LossKeyCompose(dict(
        loss1=[dict(name="CrossEntropyLoss", param=dict(lambda_weight=10.0),
                    input_name=["input_tensor", "target_tensor"])],
        loss2=SEED_LOSS_CFG["loss2"],
    ))
    out = loss(dict(input_tensor=logits, target_tensor=labels))
    torch.testing.assert_close(out["loss2"], F.cross_entropy(logits, labels))


def test_the_seeds_config_works_as_an_upper_case_yacs_cfgnode(logits_and_labels):
    logits, labels = logits_and_labels
    node = CfgNode({
        "LOSS1": [CfgNode({"NAME": "CrossEntropyLoss", "PARAM": {"LAMBDA_WEIGHT": 10.0}})],
        "LOSS2": [{"NAME": "CrossEntropyLoss", "PARAM": {"LAMBDA_WEIGHT": 1.0},
                   "INPUT_NAME": ["input_tensor", "target_tensor"]}],
    })
    out = LossKeyCompose(node)((logits, labels))
    ce = F.cross_entropy(logits, labels)
    assert set(out) == {"loss1", "loss2"}
    torch.testing.assert_close(out["loss1"], 10.0 * ce)
    torch.testing.assert_close(out["loss2"], ce)


def test_compositions_are_modules_whose_buffers_follow_to():
    loss = LossKeyCompose(dict(cls=[dict(name="CrossEntropyLoss", param=dict(weight=[1.0, 2.0]))]))
    assert isinstance(loss, nn.Module)
    loss = loss.to(torch.float64)
    weights = [b for b in loss.buffers()]
    assert len(weights) == 1 and weights[0].dtype == torch.float64


def test_user_registered_loss_is_built_from_the_config():
    @LOSS_ARCH_REGISTRY.register()
    class _TestMeanDiffLoss(nn.Module):
        def __init__(self, scale: float = 1.0):
            super().__init__()
            self.scale = scale

        def forward(self, a, b):
            return (a - b).mean() * self.scale

    try:
        loss = LossCompose([dict(name="_TestMeanDiffLoss", param=dict(scale=2.0, lambda_weight=3.0))])
        assert loss((torch.tensor([3.0]), torch.tensor([1.0]))).item() == 12.0
    finally:
        LOSS_ARCH_REGISTRY._obj_map.pop("_TestMeanDiffLoss")


def test_build_loss_builds_only_the_loss_and_leaves_the_weight_out():
    loss = build_loss(dict(name="HuberLoss", param=dict(lambda_weight=5.0, delta=2.0)))
    assert isinstance(loss, nn.HuberLoss) and loss.delta == 2.0


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


# ---- errors: each names the config path and what to do ----

def test_unregistered_name_is_reported_with_its_path_and_the_registered_names():
    with pytest.raises(ConfigError) as e:
        LossKeyCompose(dict(loss1=[dict(name="CrossEntropyLos")]), where="trainer.model.loss")
    msg = str(e.value)
    assert "trainer.model.loss.loss1[0].name" in msg
    assert "Did you mean 'CrossEntropyLoss'" in msg and "MSELoss" in msg


def test_params_the_constructor_does_not_take_are_all_named():
    with pytest.raises(ConfigError) as e:
        LossCompose([dict(name="MSELoss"), dict(name="L1Loss", param=dict(reducton="sum", foo=1))])
    msg = str(e.value)
    assert "trainer.model.loss[1].param" in msg
    assert "'reducton'" in msg and "'foo'" in msg and "'reduction'?" in msg


def test_lambda_weight_that_is_not_a_number_is_reported():
    with pytest.raises(ConfigError, match=r"loss1\[0\]\.param\.lambda_weight: expected a finite number, got str '10'"):
        LossKeyCompose(dict(loss1=[dict(name="MSELoss", param=dict(lambda_weight="10"))]))


def test_input_name_missing_from_the_inputs_lists_the_available_names(pred_and_target):
    pred, target = pred_and_target
    loss = LossKeyCompose(dict(loss2=[dict(name="MSELoss", input_name=["pred", "gt"])]))
    with pytest.raises(ConfigError) as e:
        loss(dict(pred=pred, target=target))
    msg = str(e.value)
    assert "trainer.model.loss.loss2[0].input_name" in msg
    assert "['gt']" in msg and "available: ['pred', 'target']" in msg


def test_dict_inputs_for_an_entry_without_input_name_name_the_entry(pred_and_target):
    pred, target = pred_and_target
    loss = LossKeyCompose(SEED_LOSS_CFG)
    with pytest.raises(ConfigError, match=r"trainer\.model\.loss\.loss1\[0\]: .*no input_name"):
        loss(dict(input_tensor=pred, target_tensor=target))


@pytest.mark.parametrize("build, cfg, expected", [
    (LossCompose, dict(a=[dict(name="MSELoss")]), r"expected a list of loss entries.*LossKeyCompose"),
    (LossKeyCompose, [dict(name="MSELoss")], r"expected a dict of named loss lists.*LossCompose"),
    (LossCompose, [], r"the list of losses is empty"),
    (LossCompose, ["MSELoss"], r"\[0\]: expected a loss entry"),
    (LossCompose, [dict(name="MSELoss", param=1.0)], r"\[0\]\.param: expected a dict"),
    (LossCompose, [dict(name="MSELoss", input_name="")], None),
    (LossCompose, [dict(name="MSELoss", input_name=[1])], r"\[0\]\.input_name: expected a non-empty list"),
])
def test_wrong_container_types_are_reported(build, cfg, expected):
    if expected is None:
        build(cfg)  # an empty input_name means "none", as in the seed
        return
    with pytest.raises(ConfigError, match=expected):
        build(cfg)


def test_a_misspelt_entry_key_is_reported_with_the_valid_keys():
    with pytest.raises(ConfigError, match=r"'input_names' -> 'input_name'\?.*name, param, input_name"):
        LossCompose([dict(name="MSELoss", input_names=["a", "b"])])


def test_inputs_that_are_neither_tuple_nor_dict_are_a_type_error():
    with pytest.raises(TypeError, match=r"trainer\.model\.loss\[0\]: loss inputs must be a tuple/list"):
        LossCompose([dict(name="MSELoss")])(torch.zeros(3))


def test_the_seeds_flat_loss_compose_entries_take_constructor_params_and_weights():
    """loss.md's LossCompose: dict(name=..., <constructor params>), its weight as weights=."""
    g = torch.Generator().manual_seed(3)
    fake, target = torch.randn(4, 3, generator=g), torch.softmax(torch.randn(4, 3, generator=g), 1)
    loss_func = LossCompose([dict(name="CrossEntropyLoss", weights=1.0), dict(name="MSELoss", weights=2.0),
                             dict(name="L1Loss", reduction="sum", lambda_weight=0.5)])
    by_hand = F.cross_entropy(fake, target) + 2.0 * F.mse_loss(fake, target) + 0.5 * F.l1_loss(fake, target, reduction="sum")
    assert torch.allclose(loss_func((fake, target)), by_hand)


def test_a_flat_entry_with_a_param_the_loss_does_not_take_is_reported():
    with pytest.raises(ConfigError, match=r"\[0\]\.param: L1Loss does not take 'reducton'.*'reducton' -> 'reduction'"):
        LossCompose([dict(name="L1Loss", reducton="sum")])
