"""Resolving ``trainer.device`` into a torch.device, refusing impossible requests early."""
import torch

from .errors import EngineError

__all__ = ["resolve_device", "parse_device_spec"]


def parse_device_spec(spec: str) -> torch.device:
    """``trainer.device`` as a torch.device whose index may be None ('cuda'); checks the
    string and that CUDA exists when asked for, without creating a CUDA context (the
    launcher calls it before starting workers)."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise EngineError(
            f"trainer.device: {spec!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineError(
                f"trainer.device is {spec!r} but CUDA is not available on this machine "
                f"(torch {torch.__version__}); set trainer.device cpu (or auto)"
            )
    elif device.type != "cpu":
        raise EngineError(f"trainer.device: {spec!r} is not supported; use 'cpu' or 'cuda'")
    return device


def resolve_device(spec: str) -> torch.device:
    """The device this process trains on. 'cuda' without an index means the current CUDA
    device, which the launcher sets to the process's GPU (0 in a single process)."""
    device = parse_device_spec(spec)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= count:
            raise EngineError(
                f"trainer.device asks for cuda:{index} but only {count} GPU(s) are visible"
            )
        device = torch.device("cuda", index)
    return device
