"""The seed's ``engine.collect_env``: a table of the software a run depends on.

Nothing here may fail a run: every probe that can go wrong (a compiler, cuobjdump, a
package) reports "Not found" instead of raising, and nothing starts on GPUs that
are not there.
"""
import importlib
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

import numpy as np
import torch
from tabulate import tabulate

__all__ = ["collect_env_info", "collect_torch_env", "detect_compute_compatibility",
           "get_env_module", "test_nccl_ops"]

ENV_MODULE_VAR = "ENGINE_ENV_MODULE"


def collect_torch_env() -> str:
    """torch's own build report (compiler, CUDA/cuDNN, CPU capabilities)."""
    try:
        import torch.__config__

        return torch.__config__.show()
    except ImportError:  # pragma: no cover - very old torch
        from torch.utils.collect_env import get_pretty_env_info

        return get_pretty_env_info()


def get_env_module():
    """(variable, value) of the environment-module name a cluster may set."""
    return ENV_MODULE_VAR, os.environ.get(ENV_MODULE_VAR, "<not set>")


def _run(command, timeout=10.0) -> str:
    return subprocess.check_output(command, stderr=subprocess.STDOUT, timeout=timeout).decode(
        "utf-8", "replace").strip()


def detect_compute_compatibility(CUDA_HOME, so_file) -> str:  # noqa: N803 - the seed's name
    """The GPU architectures ``so_file`` was compiled for ("7.0, 8.6"), read with
    cuobjdump; ``so_file`` itself (with a reason) when that cannot be told."""
    try:
        cuobjdump = os.path.join(CUDA_HOME, "bin", "cuobjdump")
        if not os.path.isfile(cuobjdump):
            return f"{so_file}; cannot find cuobjdump"
        lines = _run([cuobjdump, "--list-elf", so_file]).split("\n")
        archs = set()
        for line in lines:
            found = re.findall(r"\.sm_([0-9]*)\.", line)
            if found:
                archs.add(".".join(found[0]))
        return ", ".join(sorted(archs))
    except Exception:  # noqa: BLE001 - a report line, never an error
        return so_file


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
        return f"{mod.__version__} @{os.path.dirname(mod.__file__)}"
    except Exception:  # noqa: BLE001 - absent or broken: say so
        return "Not found"


def _compiler_rows(has_cuda: bool, cuda_home):
    rows = []
    if sys.platform == "win32":
        return [("Compiler", "None"), ("CUDA compiler", "None")]
    try:
        rows.append(("Compiler ($CXX)", _run([os.environ.get("CXX", "c++"), "--version"]).split("\n")[0]))
    except Exception:  # noqa: BLE001
        rows.append(("Compiler ($CXX)", "Not found"))
    if has_cuda and cuda_home is not None:
        try:
            nvcc = _run([os.path.join(cuda_home, "bin", "nvcc"), "-V"])
            rows.append(("CUDA compiler", nvcc.split("\n")[-1]))
        except Exception:  # noqa: BLE001
            rows.append(("CUDA compiler", "Not found"))
    return rows


def _gpu_rows(has_rocm: bool, cuda_home, rocm_home):
    rows = []
    devices = defaultdict(list)
    for k in range(torch.cuda.device_count()):
        cap = ".".join(str(x) for x in torch.cuda.get_device_capability(k))
        devices[f"{torch.cuda.get_device_name(k)} (arch={cap})"].append(str(k))
    for name, ids in devices.items():
        rows.append(("GPU " + ",".join(ids), name))
    if has_rocm:
        ok = rocm_home and os.path.isdir(rocm_home)
        rows.append(("ROCM_HOME", str(rocm_home) + ("" if ok else " - invalid!")))
        return rows
    try:
        from torch.utils.collect_env import get_nvidia_driver_version, run

        rows.append(("Driver version", get_nvidia_driver_version(run)))
    except Exception:  # noqa: BLE001
        pass
    ok = cuda_home and os.path.isdir(cuda_home)
    rows.append(("CUDA_HOME", str(cuda_home) + ("" if ok else " - invalid!")))
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        rows.append(("TORCH_CUDA_ARCH_LIST", os.environ["TORCH_CUDA_ARCH_LIST"]))
    return rows


def collect_env_info() -> str:
    """The environment table (platform, Python, numpy, torch, GPUs, torchvision, ...)
    followed by torch's build report."""
    from torch.utils.cpp_extension import CUDA_HOME, ROCM_HOME

    has_gpu = torch.cuda.is_available()
    has_rocm = getattr(torch.version, "hip", None) is not None and ROCM_HOME is not None
    has_cuda = has_gpu and not has_rocm

    rows = [("sys.platform", sys.platform), ("Python", sys.version.replace("\n", "")),
            ("numpy", np.__version__)]
    rows += _compiler_rows(has_cuda, CUDA_HOME)
    rows.append(get_env_module())
    rows.append(("PyTorch", f"{torch.__version__} @{os.path.dirname(torch.__file__)}"))
    rows.append(("PyTorch debug build", torch.version.debug))
    rows.append(("GPU available", "Yes" if has_gpu else "No: torch.cuda.is_available() == False"))
    if has_gpu:
        rows += _gpu_rows(has_rocm, CUDA_HOME, ROCM_HOME)
    for name, module in (("Pillow", "PIL"), ("torchvision", "torchvision"), ("cv2", "cv2"),
                         ("engine", "engine")):
        rows.append((name, _version(module)))
    return tabulate(rows) + "\n" + collect_torch_env()


def test_nccl_ops() -> None:
    """A barrier over every local GPU through NCCL; says so and returns when there are
    fewer than two GPUs (nothing to connect)."""
    num_gpu = torch.cuda.device_count()
    if num_gpu < 2:
        print(f"Skipping the NCCL test: {num_gpu} GPU(s), it needs at least 2.")
        return
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        # a fresh rendezvous file: a stale one from an earlier run would hang the group
        dist_url = "file://" + os.path.join(tmp, "nccl_rendezvous")
        print("Testing NCCL connectivity ... this should not hang.")
        mp.spawn(_test_nccl_worker, nprocs=num_gpu, args=(num_gpu, dist_url), daemon=False)
        print("NCCL succeeded.")


test_nccl_ops.__test__ = False  # a diagnostic, not a pytest test


def _test_nccl_worker(rank, num_gpu, dist_url):
    import torch.distributed as dist

    torch.cuda.set_device(rank)
    dist.init_process_group(backend="NCCL", init_method=dist_url, rank=rank, world_size=num_gpu)
    try:
        dist.barrier(device_ids=[rank])
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    print(collect_env_info())
