"""``--deterministic``: the settings that make GPU training repeatable, in one place.

Seeding (``seed``) fixes the random numbers; it does not make kernels deterministic.
On CUDA several kernels (atomic adds in backward passes of scatter/index ops,
convolution algorithms chosen by benchmark, cuBLAS's split reductions) give bitwise
different results run to run. This turns them off, at a cost documented in
doc/resume.md: ``torch.use_deterministic_algorithms(True)`` (an op with no
deterministic kernel raises instead of running), ``cudnn.deterministic = True`` and
``cudnn.benchmark = False`` (no autotuned algorithms), and ``CUBLAS_WORKSPACE_CONFIG``
(cuBLAS's fixed workspace, required by the first setting on CUDA >= 10.2). The launching
process sets the variable before any worker starts, so spawned workers inherit it;
each process applies the torch settings itself.
"""
import os

import torch

__all__ = ["enable_determinism", "CUBLAS_SETTING"]

CUBLAS_SETTING = ":4096:8"


def enable_determinism() -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_SETTING)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
