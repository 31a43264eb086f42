"""Which CUDA generator states a resumed process puts back (engine/utils/rng.py).

Rank 0 saves every visible device's state and the index of the device it trains on. A
process that trains on one device gets rank 0's own device's state on its device,
whatever its index (in an uninterrupted run every rank's generator is in that state);
a DataParallel process gets each of its devices' states. The CUDA calls are recorded
instead of made, so this runs without a GPU."""
import pytest
import torch

from engine.utils import rng


@pytest.fixture
def cuda_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append((state, device)))
    return calls


def test_a_process_on_one_gpu_gets_rank_0s_own_device_state_on_its_device(cuda_calls):
    states = ["gpu0", "gpu1", "gpu2", "gpu3"]  # written where four GPUs were visible
    rng.restore_cuda_rng_state(states, saved_device=0, gpus_per_process=1)
    assert cuda_calls == [("gpu0", 1)]  # rank 1 on cuda:1, not gpu1's never-used state


def test_rank_0_trained_on_another_index_and_fewer_gpus_are_visible_now(cuda_calls):
    rng.restore_cuda_rng_state(["gpu0", "gpu1", "gpu2"], saved_device=2, gpus_per_process=1)
    assert cuda_calls == [("gpu2", 1)]


def test_a_checkpoint_written_before_the_device_was_saved_uses_device_0(cuda_calls):
    rng.restore_cuda_rng_state(["gpu0", "gpu1"], saved_device=0)
    assert cuda_calls == [("gpu0", 1)]


def test_a_data_parallel_process_gets_each_visible_devices_state(cuda_calls):
    rng.restore_cuda_rng_state(["gpu0", "gpu1", "gpu2", "gpu3"], saved_device=0, gpus_per_process=2)
    assert cuda_calls == [("gpu0", 0), ("gpu1", 1)]  # two visible: no index past them


@pytest.fixture
def cuda_visible(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["gpu0", "gpu1"])


def test_the_captured_state_names_the_current_device_for_a_process_given_none(cuda_visible, cuda_calls):
    state = rng.capture_rng_state()  # a DDP worker: set_device(local rank) made it current
    assert state["cuda"] == ["gpu0", "gpu1"] and state["cuda_device"] == 1
    rng.restore_rng_state(state)
    assert cuda_calls == [("gpu1", 1)]


def test_one_process_on_cuda_0_while_another_device_is_current_keeps_its_own(cuda_visible, cuda_calls):
    # trainer.device cuda:0 in a single process whose current device (1 in this fixture)
    # was never set to it: the training device's index is saved and restored, not the current one
    state = rng.capture_rng_state(torch.device("cuda", 0))
    assert state["cuda_device"] == 0
    rng.restore_rng_state(state, torch.device("cuda", 0))
    assert cuda_calls == [("gpu0", 0)]


def test_a_process_training_on_the_cpu_puts_no_cuda_state_back(cuda_visible, cuda_calls):
    rng.restore_rng_state(rng.capture_rng_state(torch.device("cpu")), torch.device("cpu"))
    assert cuda_calls == []


def test_the_trainers_rng_part_saves_and_restores_on_its_models_device(cuda_visible, cuda_calls):
    from types import SimpleNamespace

    from engine.trainer.saved_parts import RngState

    part = RngState(SimpleNamespace(model=SimpleNamespace(device=torch.device("cuda", 0))))
    state = part.state_dict()
    assert state["cuda_device"] == 0
    part.load_state_dict(state)
    assert cuda_calls == [("gpu0", 0)]
