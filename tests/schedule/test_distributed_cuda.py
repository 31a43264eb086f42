"""Several GPUs: NCCL DDP, DataParallel, SyncBatchNorm (skipped without CUDA).

The CPU tests (tests/schedule/test_distributed.py) cover the same code paths with gloo; these
check what only GPUs have: one device per process, the NCCL backend (collectives on CUDA
tensors: loss means, evaluation sums, barriers), DataParallel's scatter/gather and
SyncBatchNorm. TF32 is switched off (NVIDIA_TF32_OVERRIDE=0) so that the comparisons can
use tight tolerances; cuDNN's algorithm choice still makes them allclose, not bitwise.
"""
import pytest
import torch
import torch.distributed as dist
from torch import nn

import codes  # noqa: F401  (registers the digits example)
from engine.config.loader import load_cfg
from engine.model.build import build_model
from engine.model.parallel import wrap_for_parallel
from engine.schedule.dist_url import find_free_port
from engine.utils import comm

from conftest import DIGITS_PY, run_train

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs CUDA")
needs_two_gpus = pytest.mark.skipif(not CUDA or torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
ENV = {"NVIDIA_TF32_OVERRIDE": "0", "OMP_NUM_THREADS": "1"}


def train(out, *argv):
    args = ["--config-file", DIGITS_PY, "output_dir", str(out), "trainer.device", "cuda",
            "dataloader.num_workers", "0", "trainer.progress_bar", "False", "solver.max_iter", "30",
            "solver.checkpoint_period", "10", "solver.eval_period", "0", "trainer.log_period", "10",
            "solver.generator.lr_scheduler.params.warmup_iter", "2", *argv]
    result = run_train(args, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return torch.load(out / "digits" / "checkpoints" / "model_final.pth", weights_only=True, map_location="cpu")


def assert_close(a, b, rtol=1e-4, atol=1e-5):
    for part in ("g_model", "g_ema"):
        for key, value in a["model"][part].items():
            other = b["model"][part][key]
            if value.is_floating_point():
                assert torch.allclose(value, other, rtol=rtol, atol=atol), \
                    f"{part}.{key}: {(value - other).abs().max().item():.3g}"
            else:
                assert torch.equal(value, other), f"{part}.{key}"


@needs_two_gpus
def test_nccl_ddp_on_two_gpus_trains_like_one_gpu_with_twice_the_batch(tmp_path):
    two = train(tmp_path / "two", "--num-gpus", "2", "solver.train_per_batch", "8",
                "trainer.model.generator.batch_norm", "False")
    one = train(tmp_path / "one", "--num-gpus", "1", "solver.train_per_batch", "16",
                "trainer.model.generator.batch_norm", "False")
    assert_close(two, one)
    rank1 = (tmp_path / "two" / "digits" / "log.rank1.txt").read_text()
    assert "process 1 of 2" in rank1 and "NCCL" in (tmp_path / "two" / "digits" / "log.txt").read_text()


@needs_two_gpus
def test_sync_bn_makes_batch_norm_world_size_invariant(tmp_path):
    """With SyncBatchNorm the statistics are those of the global batch: 2 GPUs x 8 with
    batch norm train like 1 GPU x 16 (running statistics included)."""
    two = train(tmp_path / "two", "--num-gpus", "2", "solver.train_per_batch", "8", "trainer.ddp.sync_bn", "True")
    one = train(tmp_path / "one", "--num-gpus", "1", "solver.train_per_batch", "16")
    assert_close(two, one, rtol=1e-3, atol=1e-4)


@needs_two_gpus
def test_data_parallel_on_two_gpus_trains_like_one_gpu(tmp_path):
    """trainer.parallel dp: one process, the batch of 16 split over 2 GPUs."""
    dp = train(tmp_path / "dp", "--num-gpus", "2", "trainer.parallel", "dp", "solver.train_per_batch", "16",
               "trainer.model.generator.batch_norm", "False")
    one = train(tmp_path / "one", "--num-gpus", "1", "solver.train_per_batch", "16",
                "trainer.model.generator.batch_norm", "False")
    assert_close(dp, one)
    assert not (tmp_path / "dp" / "digits" / "log.rank1.txt").exists()  # one process
    assert "DataParallel over GPUs [0, 1]" in (tmp_path / "dp" / "digits" / "log.txt").read_text()


@needs_cuda
def test_sync_bn_wrap_on_one_gpu(monkeypatch):
    """SyncBatchNorm conversion before DDP keeps the optimizer's tensors and EMA working
    (an NCCL group of one, world size reported as 2 so that the DDP path is taken)."""
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{find_free_port()}", rank=0, world_size=1)
    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    try:
        torch.manual_seed(0)
        cfg = load_cfg(DIGITS_PY, ["trainer.device", "cuda", "trainer.ddp.sync_bn", "True"])
        model = build_model(cfg)
        model.modules_to_device()
        params = sorted(id(p) for g in model.g_solver.optimizer.param_groups for p in g["params"])
        wrap_for_parallel(model, cfg)
        inner = model.unwrapped("g_model")
        assert isinstance(model.g_model, nn.parallel.DistributedDataParallel)
        assert model.g_model.device_ids == [0]
        assert any(isinstance(m, nn.SyncBatchNorm) for m in inner.modules())
        assert sorted(id(p) for p in inner.parameters()) == params
        g = torch.Generator().manual_seed(0)
        batch = {"input_data": torch.rand(8, 1, 16, 16, generator=g),
                 "target_data": torch.randint(0, 10, (8,), generator=g)}
        before = {k: v.clone() for k, v in model.g_ema.module.state_dict().items()}
        model.train_iteration([batch])
        after = model.g_ema.module.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)
        assert set(model.state_dict()["g_model"]) == set(before)  # no 'module.' prefix
    finally:
        dist.destroy_process_group()


@needs_cuda
def test_one_gpu_run_is_not_wrapped(tmp_path):
    state = train(tmp_path, "--num-gpus", "1", "solver.train_per_batch", "16")
    assert state["iteration"] == 30
    assert "DistributedDataParallel" not in (tmp_path / "digits" / "log.txt").read_text()

