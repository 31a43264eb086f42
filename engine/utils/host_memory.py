"""``trainer.reuse_host_memory``: memory the process frees is kept for its next
allocations instead of being handed back to the operating system.

Why: glibc's malloc returns memory to the kernel when more than a threshold is free at
the top of its heap, and serves blocks above another threshold with a fresh ``mmap``
each time (both thresholds move with what the process did last). A training step frees
and allocates the same tensors every step (activations, then the gradients that
``zero_grad(set_to_none=True)`` dropped), so every step pays the kernel to map and zero
those pages again: 19,000-25,000 page faults and 60-70 ms of system time a step for a
ResNet-18 at 64 px, batch 8, on this project's 2-core machine (doc/benchmarks.md, "Host
memory").
jemalloc and tcmalloc, which PyTorch's CPU launcher (``torch.backends.xeon.run_cpu``)
preloads, keep freed memory; with glibc, fixing both thresholds (``mallopt``'s
``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD``) does the same. Set before the loader's
workers fork, the workers inherit it.

The price: the process keeps up to :data:`KEEP_BYTES` of freed memory instead of
shrinking between steps (its resident size stays near its peak). Only glibc is changed
(Linux); thresholds the user set in the environment (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``) are left as they are.
"""
import ctypes
import os
import platform

__all__ = ["KEEP_BYTES", "reuse_host_memory"]

#: blocks up to this size come from the heap, and this much free memory stays mapped
KEEP_BYTES = 1 << 30
#: what glibc accepted as the largest mmap threshold before 2.26 (HEAP_MAX_SIZE / 2)
_OLD_GLIBC_MAX = 32 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_done = None


def reuse_host_memory() -> str:
    """Fix glibc's thresholds (module docstring), once per process; what was done, in
    words (for the log)."""
    global _done
    if _done is None:
        _done = _set_thresholds()
    return _done


def _set_thresholds() -> str:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "left as it is (not glibc)"
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if any(name in os.environ for name in _USER_SETTINGS) or "glibc.malloc." in tunables:
        return "left as the environment sets it"
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return "left as it is (no mallopt)"
    # the mmap threshold first: the trim threshold alone would also stop the mmap
    # threshold from growing, leaving every block over 128 KiB to a fresh mmap
    for keep in (KEEP_BYTES, _OLD_GLIBC_MAX):
        if mallopt(_M_MMAP_THRESHOLD, keep) == 1:
            if mallopt(_M_TRIM_THRESHOLD, keep) == 1:
                return f"freed memory kept for reuse (glibc malloc thresholds at {keep >> 20} MiB)"
            return "left as it is (glibc refused the trim threshold)"
    return "left as it is (glibc refused the mmap threshold)"
