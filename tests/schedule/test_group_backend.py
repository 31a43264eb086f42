"""The process group's backend (engine/utils/comm.py ``group_backend``): NCCL on CUDA, gloo
on the CPU, and gloo beside NCCL when a CUDA run's collectives see CPU tensors (fully
sharded with the shards in host memory: the gradient norm over them is all-reduced
where they are, and an NCCL-only group has no backend for a CPU tensor)."""
import pytest
import torch
import torch.distributed as dist

from conftest import DIGITS_PY
from engine.config.loader import load_cfg
from engine.model import fsdp
from engine.schedule.launch import _group_backend
from engine.utils import comm
from engine.utils.errors import EngineError

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")


def test_each_device_gets_its_backend_and_cpu_collectives_add_gloo_on_cuda():
    assert comm.group_backend(CPU) == comm.group_backend(CPU, cpu_collectives=True) == "gloo"
    assert comm.group_backend(CUDA) == "nccl"
    assert comm.group_backend(CUDA, cpu_collectives=True) == "cuda:nccl,cpu:gloo"


def test_the_launcher_asks_the_same_and_still_refuses_sync_bn_on_the_cpu():
    assert _group_backend(CUDA, sync_bn=True, cpu_collectives=True) == "cuda:nccl,cpu:gloo"
    assert _group_backend(CUDA, sync_bn=False) == "nccl"
    with pytest.raises(EngineError, match="sync_bn needs CUDA"):
        _group_backend(CPU, sync_bn=True)


@pytest.mark.parametrize("overrides, offloads", [
    ([], False),
    (["trainer.fsdp.enabled", "True"], False),
    (["trainer.fsdp.cpu_offload", "True"], False),  # not sharded: nothing offloaded
    (["trainer.fsdp.enabled", "True", "trainer.fsdp.cpu_offload", "True"], True),
])
def test_only_offloaded_shards_ask_for_cpu_collectives(overrides, offloads):
    assert fsdp.offloads_to_cpu(load_cfg(DIGITS_PY, overrides)) is offloads


def test_a_single_sharded_process_makes_its_group_with_the_same_backend(monkeypatch):
    made = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kwargs: made.append(backend))
    fsdp.ensure_process_group(CUDA, cpu_collectives=True)
    fsdp.ensure_process_group(CUDA)
    fsdp.ensure_process_group(CPU)
    assert made == ["cuda:nccl,cpu:gloo", "nccl", "gloo"]


def test_a_mixed_group_counts_as_nccl_where_the_engine_asks(monkeypatch):
    # the engine's own collectives and the worker's exit path ask whether the group is
    # NCCL: 'cuda:nccl,cpu:gloo' is (its tensors on the GPU, no destroy after a failure)
    assert comm.uses_nccl("cuda:nccl,cpu:gloo") and comm.uses_nccl("nccl") and comm.uses_nccl(dist.Backend.NCCL)
    assert not comm.uses_nccl("gloo")
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "cuda:nccl,cpu:gloo")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    assert comm._device() == torch.device("cuda", 3)
