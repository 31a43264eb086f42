"""Reading and writing weight files in the formats the engine accepts.

* ``.pth`` / ``.pt`` / anything else: ``torch.load(..., weights_only=True)``, so a file
  can hold tensors, numbers, strings, lists and dicts but never run code when loaded.
* ``.safetensors``: a flat ``{name: tensor}`` file (the ``safetensors`` package).

A torch file is checked against the CRC32 checksums torch wrote into it before it is
loaded (integrity.py), so a flipped byte in a tensor is refused here, by every reader
(the tools, ``trainer.weights``, engine-test/export, the Predictor), not loaded as a
wrong weight; ``--resume`` checks the same way (checkpointer.load_checkpoint).

Every failure is an :class:`EngineError` naming the file and what is wrong with it, so
the tools and ``trainer.weights`` report it in one line.
"""
import os
import pickle
import re
from typing import Any, Iterator, Tuple

import torch

from ..utils.atomic import atomic_write, atomic_write_bytes
from ..utils.errors import EngineError
from .integrity import CorruptCheckpointError, verify_checkpoint

__all__ = ["load_file", "save_file", "is_engine_checkpoint", "iter_tensors", "is_safetensors"]


def is_safetensors(path: str) -> bool:
    return str(path).lower().endswith(".safetensors")


def load_file(path: str, what: str = "") -> Any:
    """The object stored in ``path`` (on the CPU). ``what`` prefixes error messages,
    e.g. ``'trainer.weights: '``."""
    if os.path.isdir(path):  # a distributed checkpoint (trainer.fsdp): consolidated here
        from .sharded import consolidated_payload

        try:
            return consolidated_payload(path)
        except CorruptCheckpointError as e:
            raise CorruptCheckpointError(f"{what}{path!r} is damaged: {e}; use another copy of it") from None
    if not os.path.isfile(path):
        raise EngineError(f"{what}file not found: {path!r}")
    if is_safetensors(path):
        try:
            from safetensors.torch import load_file as load_safetensors
        except ImportError:
            raise EngineError(f"{what}{path!r} is a .safetensors file: pip install safetensors") from None
        try:
            return load_safetensors(path, device="cpu")
        except Exception as e:
            raise EngineError(f"{what}{path!r} is not a valid .safetensors file ({type(e).__name__}: {e})") from None
    try:
        verify_checkpoint(path)
    except CorruptCheckpointError as e:
        raise CorruptCheckpointError(f"{what}{path!r} is damaged: {e}; use another copy of it") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EngineError(_torch_load_error(path, what, e)) from None


def _torch_load_error(path: str, what: str, error: Exception) -> str:
    text = str(error)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if isinstance(error, pickle.UnpicklingError) and found:
        return (f"{what}{path!r} holds Python objects that torch.load(weights_only=True) refuses to "
                f"unpickle (a {found.group(1)}); save a state_dict (network.state_dict()) instead of "
                f"a whole object")
    detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    reason = detail.group(1) if detail else (text.strip().splitlines() or [type(error).__name__])[0]
    return (f"{what}{path!r} does not load as a torch file ({type(error).__name__}: {reason[:200]}); "
            f"is it a checkpoint, and was it written completely?")


OUTPUT_EXTENSIONS = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")


def check_output_extension(path: str) -> None:
    """Refuse an output name whose extension says another format than the one written."""
    extension = os.path.splitext(str(path))[1].lower()
    if extension not in OUTPUT_EXTENSIONS:
        hint = "; for ONNX use engine-export (doc/export.md)" if extension == ".onnx" else ""
        raise EngineError(f"{path!r}: cannot write a {extension or 'extension-less'} file; the output is a "
                          f"torch file (.pth, .pt, .ckpt, .bin) or .safetensors{hint}")


def save_file(path: str, obj: Any) -> None:
    """Write ``obj`` atomically; ``.safetensors`` needs a flat dict of tensors; other
    extensions than :data:`OUTPUT_EXTENSIONS` are refused."""
    check_output_extension(path)
    if is_safetensors(path):
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise EngineError(f"{path!r}: a .safetensors file holds a flat dict of tensors only")
        from safetensors.torch import save as save_safetensors

        # safetensors refuses shared or non-contiguous storage: give it plain copies
        atomic_write_bytes(path, save_safetensors({k: v.detach().contiguous().clone() for k, v in obj.items()}))
        return
    atomic_write(path, lambda f: torch.save(obj, f))


def is_engine_checkpoint(payload: Any) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("model"), dict) and "iteration" in payload


def iter_tensors(tree: Any, prefix: str = "") -> Iterator[Tuple[str, torch.Tensor]]:
    """Every tensor in a nested dict/list, with its dotted path."""
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from iter_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from iter_tensors(value, f"{prefix}.{i}" if prefix else str(i))

