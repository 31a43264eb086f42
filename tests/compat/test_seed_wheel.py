"""The released seed wheel (engine_frame 3.0.0), where it differs from the seed's HEAD
source our compat was first built from: its BinaryDiceLoss(reduction=...), its loss
compositions' arguments, its BaseModel method spellings, its trainer's loaders and
attributes, its Resize; and what running a wheel project (SDDet, a SOLOv2 detector)
showed: a dataset's own ``pipeline`` method, the shapes its pipeline records, nested
EngineDataSets, ``dict(loss=a + b, a=a, b=b)`` (each part back-propagated once)."""
import logging
import weakref

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import engine.model.base_model as base_model
from engine.config import load_cfg
from engine.compat.seed.trainer_api import warn_unused_overrides
from engine.data.dataset import EngineDataSet
from engine.data.seeding import SeededSamples
from engine.evaluation.loss_evaluator import LossEvaluator
from engine.loss import BinaryDiceLoss, LossCompose, LossKeyCompose
from engine.model.build import BUILD_MODEL_REGISTRY
from engine.model.step import split_terms
from engine.trainer.build import build_trainer
from engine.trainer.trainer import BaseTrainer
from engine.transforms.build import build_transforms
from engine.utils.device import parse_device_spec
from engine.utils.errors import ConfigError

from hook_project import HookLineModel, write_config


def dice_per_channel(logits, target, smooth=1.0, eps=1e-5):
    """The wheel's binary Dice, restated: sigmoid, per channel over batch and pixels."""
    p = torch.sigmoid(logits)
    dims = [0] + list(range(2, logits.dim()))
    return 1 - (2 * (p * target).sum(dims) + smooth) / ((p + target).sum(dims) + eps + smooth)


# ------------------------------------------------------------------ losses
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_binary_dice_loss_takes_the_wheels_reduction(reduction):
    logits, target = torch.randn(2, 5, 6, 6), (torch.rand(2, 5, 6, 6) > 0.5).float()
    expected = dice_per_channel(logits, target)
    expected = {"none": expected, "sum": expected.sum(), "mean": expected.mean()}[reduction]
    got = BinaryDiceLoss(reduction=reduction)(logits, target)
    assert got.shape == expected.shape and torch.allclose(got, expected)


def test_binary_dice_loss_refuses_an_unknown_reduction():
    with pytest.raises(ConfigError, match="reduction must be one of"):
        BinaryDiceLoss(reduction="avg")  # the wheel returned the unreduced vector silently


def test_a_solov2_heads_mask_loss_gives_one_value_per_instance():
    """SDDet: LossKeyCompose(dict(mask=loss_mask)) called in the list form per FPN level
    on (1, N, H*W) maps; the per-instance values are concatenated and summed."""
    cfg = [dict(name='BinaryDiceLoss', param=dict(apply_sigmoid=True, lambda_weight=3.0, reduction='none'))]
    loss_fn = LossKeyCompose(dict(mask=cfg))
    levels = [(torch.randn(1, n, 16), (torch.rand(1, n, 16) > 0.5).float()) for n in (3, 2)]
    per_level = [loss_fn(dict(mask=[level])) for level in levels]
    assert [v.shape for v in per_level] == [torch.Size([3]), torch.Size([2])]
    assert torch.allclose(torch.cat(per_level), torch.cat([3 * dice_per_channel(*lv) for lv in levels]))


def test_loss_key_compose_takes_the_seeds_device_argument():
    cfg = dict(cls=[dict(name='CrossEntropyLoss', param=dict(weight=[1.0, 2.0]))])
    logits, labels = torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    for loss_fn in (LossKeyCompose(cfg, device='cpu'), LossKeyCompose(cfg, 'cpu')):
        assert torch.allclose(loss_fn((logits, labels))['cls'],
                              nn.functional.cross_entropy(logits, labels, weight=torch.tensor([1.0, 2.0])))


def test_loss_compositions_take_loss_objects_as_the_seed_does():
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    total = LossCompose([nn.MSELoss(), dict(name='L1Loss')])((a, b))
    assert torch.allclose(total, nn.functional.mse_loss(a, b) + nn.functional.l1_loss(a, b))
    assert torch.allclose(LossKeyCompose(dict(k=[nn.MSELoss()]))((a, b))['k'], nn.functional.mse_loss(a, b))


def test_the_wheels_pipe_module_star_import_gives_its_helpers():
    names = {}
    exec("from engine.loss.pipe import *", names)  # the wheel's pipe.py has no __all__
    assert {"LossKeyCompose", "LossCompose", "LossContainer", "dict2lower", "build_loss"} <= set(names)


# ------------------------------------------------------------------ model and trainer
@pytest.fixture
def line_cfg(tmp_path):
    return load_cfg(write_config(tmp_path), ["output_dir", str(tmp_path), "solver.test_per_batch", "5"])


def test_base_model_has_the_wheels_names(line_cfg):
    assert base_model.Tensor is torch.Tensor  # the wheel's module imports it
    model = HookLineModel(line_cfg)
    net = model.g_model
    for name in ("enable_dirstribute_ddp", "enable_distribute_ddp", "enable_distribute_dp", "enable_distribute"):
        getattr(model, name)(line_cfg)
    assert model.g_model is net  # the engine wraps for DDP itself: these only log


def test_the_wheels_trainer_loaders_and_attributes(line_cfg):
    trainer = build_trainer(line_cfg)
    # the wheel: test_data_loader is the validation set, solver.test_per_batch a batch
    assert [len(b["input_data"]) for b in trainer.test_data_loader] == [5, 5, 5, 1]
    train, test = trainer.create_dataloader(line_cfg, trainer.train_set, trainer.val_set)  # the wheel's arity
    assert len(next(iter(train))["input_data"]) == 8 and [len(b["input_data"]) for b in test] == [5, 5, 5, 1]
    train, val, test = trainer.create_iterable_dataloader(line_cfg, trainer.train_set, trainer.val_set, None)
    assert test is None and len(next(iter(train))["input_data"]) == 8  # HEAD's arity
    assert (trainer.gradient_accumulation_batch, trainer.train_batch_size) == (-1, 8)


def test_train_batch_size_is_the_micro_batch(tmp_path):
    cfg = load_cfg(write_config(tmp_path), ["output_dir", str(tmp_path), "solver.gradient_accumulation_batch", "2"])
    assert build_trainer(cfg).train_batch_size == 4


def test_overrides_the_engine_never_calls_are_named(line_cfg, caplog):
    class LoaderTrainer(BaseTrainer):
        def create_dataloader(self, cfg, train_dataset, valid_dataset):
            raise AssertionError("not called")

    class DdpModel(HookLineModel):
        def enable_dirstribute_ddp(self, cfg):
            raise AssertionError("not called")

    trainer = LoaderTrainer(line_cfg)
    with caplog.at_level(logging.WARNING):
        warn_unused_overrides(weakref.proxy(BaseTrainer(line_cfg)))  # as a hook sees the trainer
    assert "overrides" not in caplog.text
    trainer.model.__class__ = DdpModel
    with caplog.at_level(logging.WARNING):
        warn_unused_overrides(weakref.proxy(trainer))
    assert "LoaderTrainer overrides create_dataloader" in caplog.text
    assert "DdpModel overrides enable_dirstribute_ddp" in caplog.text


def test_trainer_device_is_the_configs_even_with_cuda(monkeypatch):
    """The wheel's scheduler replaced trainer.device by 'cuda if available'; ours keeps
    what the config says ('' and None, HEAD's 'choose', are auto)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert parse_device_spec("cpu") == torch.device("cpu")
    assert parse_device_spec("").type == parse_device_spec(None).type == "cuda"


# ------------------------------------------------------------------ loss terms
@BUILD_MODEL_REGISTRY.register()
class PartsLineModel(HookLineModel):
    """Returns the seed's step_info: ``loss`` the total, its parts beside it."""

    def run_step(self, data, *, epoch=None, **kwargs):
        pred = self.g_model(data["input_data"])
        a = nn.functional.mse_loss(pred, data["target_data"])
        b = pred.abs().mean()
        return dict(loss=a + 0.5 * b, loss_a=a, loss_b=b) if self.parts else dict(loss=a + 0.5 * b)


def test_the_parts_of_a_total_are_back_propagated_once(line_cfg):
    batch = {"input_data": torch.linspace(-1, 1, 8)[:, None], "target_data": torch.linspace(-3, 1, 8)[:, None]}
    weights = []
    for parts in (True, False):
        torch.manual_seed(0)
        model = PartsLineModel(line_cfg)
        model.parts = parts
        result = model.train_iteration([batch])
        weights.append([p.detach().clone() for p in model.g_model.parameters()])
        assert list(result) == ["loss"]
        assert sorted(model.loss_components) == (["loss_a", "loss_b"] if parts else [])
    assert all(torch.equal(x, y) for x, y in zip(*weights))
    evaluator = LossEvaluator()
    model.parts = True
    model.train_iteration([batch])
    with torch.no_grad():
        evaluator.process(model, batch)
    results = evaluator.evaluate()
    assert "val_total_loss" not in results  # val_loss is the total; its parts are not added to it
    assert results["val_loss"] == pytest.approx(results["val_loss_a"] + 0.5 * results["val_loss_b"], rel=1e-5)


def test_split_terms_keeps_independent_terms():
    x = torch.randn(3, requires_grad=True)
    a, b = (x * 2).sum(), (x ** 2).sum()
    losses, logged = split_terms(dict(l1=a, l2=b, acc=0.5))
    assert sorted(losses) == ["l1", "l2"] and logged == {"acc": 0.5}
    losses, logged = split_terms(dict(loss=3 * a + b, a=a))
    assert list(losses) == ["loss"] and not logged["a"].requires_grad


# ------------------------------------------------------------------ datasets and transforms
class OwnPipelineSet(EngineDataSet):
    """SDDet's CocoDataset: its own method named ``pipeline``, meta keys read after."""

    def __init__(self, transformer):
        super().__init__(transformer)

    def __len__(self):
        return 8

    def pipeline(self, info, ann):
        img = np.full((info, 2 * info, 3), ann, np.uint8)
        img[:, :, 0] = np.arange(2 * info)[None, :]  # a ramp: a flip shows
        results = self.data_pipeline(dict(img=img, img_fields=['img'], color_fields=['img']))
        return {k: results.get(k) for k in ('img', 'ori_shape', 'img_shape', 'scale', 'keep_ratio', 'pad_offset',
                                         'img_norm_cfg')}

    def __getitem__(self, index):
        return self.pipeline(20 + index, index)


PIPELINE = [dict(name='RandomFlip', direction=['horizontal'], p=0.5),
            dict(name='Resize', target_size=24, keep_ratio=True, is_padding=False),
            dict(name='Normalize', mean=(0, 0, 0), std=(1, 1, 1)), dict(name='Pad32')]


def test_a_datasets_own_pipeline_method_and_the_shapes_the_seed_records():
    ds = OwnPipelineSet(PIPELINE)
    assert len(ds.transformers) == 4  # the seed's attribute
    out = ds[0]  # 20 x 40 -> 12 x 24 -> padded 32 x 32
    assert out['ori_shape'] == (20, 40) and tuple(out['img_shape']) == (32, 32) and out['img'].shape == (32, 32, 3)
    assert out['keep_ratio'] is True and list(out['scale']) == [0.6, 0.6] and set(out['img_norm_cfg']) >= {'mean', 'std'}
    assert list(out['pad_offset']) == [10, 10, 4, 4]


class Wrapper(Dataset):
    """A plain Dataset over EngineDataSets (SDDet's ConcatDataset)."""

    def __init__(self):
        self.parts = [OwnPipelineSet([dict(name='RandomFlip', direction=['horizontal'], p=0.5)])] * 2

    def __len__(self):
        return 16

    def __getitem__(self, index):
        return self.parts[index // 8][index % 8]['img']


def test_nested_engine_datasets_augment_as_a_function_of_seed_epoch_index():
    first = [SeededSamples(Wrapper(), seed=3)[(0, i)] for i in range(16)]
    again = [SeededSamples(Wrapper(), seed=3)[(0, i)] for i in range(16)]
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    flipped = [bool(x[0, 0, 0] > x[0, -1, 0]) for x in first]
    assert 0 < sum(flipped) < 16  # the flip is random, and drawn from the sample's seed


@pytest.mark.parametrize("h,w,size", [(5, 10, 5), (10, 6, 5), (30, 50, 25), (7, 3, 4), (64, 45, 64)])
def test_resize_keep_ratio_rounds_half_up_as_the_seed(h, w, size):
    t = build_transforms([dict(name='Resize', target_size=size, keep_ratio=True, is_padding=False)])
    out = t(dict(img=np.zeros((h, w, 3), np.uint8)))
    scale = size / max(h, w)
    assert out['img'].shape[:2] == (int(h * scale + 0.5), int(w * scale + 0.5))


def test_resize_records_each_axis_actual_factor():
    """7 x 3 -> 4 x 2: the seed recorded 4/7 for both axes (and scaled boxes by it); the
    width grew by 2/3, and a box's right edge at the image's must stay there."""
    t = build_transforms([dict(name='Resize', target_size=4, keep_ratio=True, is_padding=False)])
    out = t(dict(img=np.zeros((7, 3, 3), np.uint8), bbox=np.array([[0, 0, 3, 7]], np.float32)))
    assert list(out['scale']) == pytest.approx([2 / 3, 4 / 7])
    assert out['bbox'][0].tolist() == pytest.approx([0, 0, 2, 4])
