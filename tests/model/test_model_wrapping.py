"""BaseModel.wrap_networks: the seam DDP/DataParallel plug into. The wrapper runs the
training forward; checkpoints, EMA and evaluation see the unwrapped network."""
import copy

import torch
from torch import nn

import codes  # noqa: F401  (registers the digits example)
from engine.config.loader import load_cfg
from engine.model.build import build_model
from conftest import DIGITS_PY


class CountingWrapper(nn.Module):
    """Stands in for DistributedDataParallel: forwards, and counts no_sync() entries."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self.no_sync_calls = 0
        self.forward_calls = 0

    def forward(self, *args, **kwargs):
        self.forward_calls += 1
        return self.module(*args, **kwargs)

    def no_sync(self):
        self.no_sync_calls += 1
        return torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)


def digits_model():
    torch.manual_seed(0)
    cfg = load_cfg(DIGITS_PY, ["trainer.device", "cpu"])
    model = build_model(cfg)
    model.modules_to_device()
    return model


def batch(n=8):
    g = torch.Generator().manual_seed(0)
    return {"input_data": torch.rand(n, 1, 8, 8, generator=g),
            "target_data": torch.randint(0, 10, (n,), generator=g)}


def test_wrapped_network_runs_the_forward_and_state_stays_unwrapped():
    model = digits_model()
    inner = model.g_model
    model.wrap_networks(lambda name, net: CountingWrapper(net))
    assert isinstance(model.g_model, CountingWrapper)
    assert model.unwrapped("g_model") is inner and model.networks == [inner]
    before = {k: v.clone() for k, v in inner.state_dict().items()}
    model.train_iteration([batch(), batch(), batch()])
    assert model.g_model.forward_calls == 3
    assert model.g_model.no_sync_calls == 2  # every micro-batch but the last
    state = model.state_dict()["g_model"]
    assert set(state) == set(before)  # no 'module.' prefix
    assert any(not torch.equal(before[k], state[k]) for k in state)


def test_evaluation_and_ema_use_the_unwrapped_network():
    model = digits_model()
    model.wrap_networks(lambda name, net: CountingWrapper(net))
    model.train_iteration([batch()])
    with model.inference_weights() as net:
        assert not isinstance(net, CountingWrapper)
        assert not isinstance(model.g_model, CountingWrapper)
        model.generator(batch()["input_data"])
    assert isinstance(model.g_model, CountingWrapper) and model.g_model.forward_calls == 1
    ema = model.g_ema.module.state_dict()
    assert set(ema) == set(model.unwrapped("g_model").state_dict())


def test_data_parallel_on_cpu_trains_like_the_bare_network():
    bare, wrapped = digits_model(), digits_model()
    wrapped.wrap_networks(lambda name, net: nn.DataParallel(net, device_ids=[]))
    for _ in range(3):
        bare.train_iteration([batch()])
        wrapped.train_iteration([batch()])
    a, b = bare.state_dict()["g_model"], wrapped.state_dict()["g_model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_wrapper_that_replaces_the_inner_network_updates_the_checkpointed_state():
    model = digits_model()
    replacement = {}

    def wrap(name, net):
        new = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)  # converts in place...
        new = copy.deepcopy(new)  # ...so force a new object, as a top-level BN would
        replacement["net"] = new
        return CountingWrapper(new)

    model.wrap_networks(wrap)
    assert model.unwrapped("g_model") is replacement["net"]
    assert model._states["g_model"] is replacement["net"]
