"""Resolving ``trainer.device`` into a torch.device, refusing impossible requests early."""
import torch

from .errors import EngineError

__all__ = ["resolve_device"]


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
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
        count = torch.cuda.device_count()
        index = device.index if device.index is not None else local_rank
        if index >= count:
            raise EngineError(
                f"trainer.device asks for cuda:{index} but only {count} GPU(s) are visible"
            )
        device = torch.device("cuda", index)
    elif device.type != "cpu":
        raise EngineError(f"trainer.device: {spec!r} is not supported; use 'cpu' or 'cuda'")
    return device
