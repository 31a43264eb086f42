"""engine/model/parallel.py: which networks DDP wraps and how, in one process (a gloo
group of one, with the world size reported as 2 so that the DDP path is taken).
SyncBatchNorm needs CUDA modules: tests/schedule/test_distributed_cuda.py."""
import pytest
import torch
import torch.distributed as dist
from torch import nn

import codes  # noqa: F401  (registers the digits example)
from codes.digits.model import DigitsClassifier
from engine.config.loader import load_cfg
from engine.model.build import build_model
from engine.model.parallel import wrap_for_parallel
from engine.schedule.dist_url import find_free_port
from engine.utils import comm

from conftest import DIGITS_PY

DDP = nn.parallel.DistributedDataParallel


@pytest.fixture
def ddp_world(monkeypatch):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{find_free_port()}", rank=0, world_size=1)
    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    try:
        yield
    finally:
        dist.destroy_process_group()


def digits(*overrides, model=None):
    torch.manual_seed(0)
    cfg = load_cfg(DIGITS_PY, ["trainer.device", "cpu", *overrides])
    bundle = model(cfg) if model else build_model(cfg)
    bundle.modules_to_device()
    return cfg, bundle


def batches(n=2, size=8):
    g = torch.Generator().manual_seed(0)
    return [{"input_data": torch.rand(size, 1, 16, 16, generator=g),
             "target_data": torch.randint(0, 10, (size,), generator=g)} for _ in range(n)]


def test_ddp_wraps_the_generator_and_trains_like_the_bare_network(ddp_world):
    cfg, wrapped = digits("trainer.ddp.find_unused_parameters", "True")
    _, bare = digits()
    wrap_for_parallel(wrapped, cfg)
    assert isinstance(wrapped.g_model, DDP) and wrapped.g_model.find_unused_parameters
    assert not isinstance(wrapped.unwrapped("g_model"), DDP)
    for _ in range(2):
        wrapped.train_iteration(batches())  # two micro-batches: no_sync on the first
        bare.train_iteration(batches())
    a, b = wrapped.state_dict(), bare.state_dict()
    assert set(a["g_model"]) == set(b["g_model"])  # no 'module.' prefix
    for key in a["g_model"]:
        assert torch.allclose(a["g_model"][key].float(), b["g_model"][key].float(), rtol=1e-6, atol=1e-7), key


class WithFrozenNetwork(DigitsClassifier):
    """A second registered network without trainable parameters (e.g. a fixed feature
    extractor for a perceptual loss): DDP has nothing to synchronise there."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.frozen = nn.Linear(4, 4).requires_grad_(False)
        self.register_network("frozen", self.frozen)


def test_networks_without_trainable_parameters_are_not_wrapped(ddp_world):
    cfg, model = digits(model=WithFrozenNetwork)
    frozen = model.frozen
    wrap_for_parallel(model, cfg)
    assert isinstance(model.g_model, DDP)
    assert model.frozen is frozen and model.unwrapped("frozen") is frozen


def test_one_process_is_not_wrapped():
    cfg, model = digits()
    wrap_for_parallel(model, cfg)
    assert not isinstance(model.g_model, (DDP, nn.DataParallel))
    cfg, model = digits("trainer.parallel", "dp")  # DataParallel only over several GPUs
    wrap_for_parallel(model, cfg)
    assert not isinstance(model.g_model, (DDP, nn.DataParallel))


def test_checkpoints_move_between_wrapped_and_bare_bundles(ddp_world):
    """A 1-process checkpoint loads into DDP-wrapped networks and the other way round
    (the state never has a 'module.' prefix); end to end, a 2-process checkpoint
    continuing in 1 process is in tests/schedule/test_distributed.py."""
    cfg, bare = digits()
    bare.train_iteration(batches(1))
    _, wrapped = digits()
    wrap_for_parallel(wrapped, cfg)
    wrapped.load_state_dict(bare.state_dict())
    for key, value in bare.state_dict()["g_model"].items():
        assert torch.equal(wrapped.g_model.module.state_dict()[key], value), key
    wrapped.train_iteration(batches(1))
    _, again = digits()
    again.load_state_dict(wrapped.state_dict())
    for key, value in wrapped.state_dict()["g_model"].items():
        assert torch.equal(again.state_dict()["g_model"][key], value), key
