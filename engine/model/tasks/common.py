"""What the built-in bundles share: their options and the batch's tensors."""
from typing import Any, Dict, Mapping

import torch

from ...utils.errors import EngineError
from ...utils.registry import options_with_defaults

__all__ = ["loss_options", "batch_tensor", "main_output"]


def loss_options(cfg, defaults: Mapping[str, Any], owner: str) -> Dict[str, Any]:
    """The bundle's loss settings from ``trainer.model.loss`` (a flat dict; a key the
    bundle does not know is an error naming the valid ones)."""
    return options_with_defaults(cfg.TRAINER.MODEL.LOSS, defaults, f"trainer.model.loss ({owner})")


def batch_tensor(data, key: str, owner: str, device: torch.device) -> torch.Tensor:
    """``data[key]`` on ``device``; a batch without it is one error naming the keys it has
    (the built-in datasets give ``input_data`` and ``target_data``)."""
    if not isinstance(data, Mapping) or key not in data:
        keys = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
        raise EngineError(f"{owner}.run_step: the batch needs '{key}' (the built-in datasets' key); "
                          f"it has {keys}")
    return torch.as_tensor(data[key]).to(device, non_blocking=True)


def main_output(output, owner: str):
    """``(main, aux)``: the output evaluation scores and an auxiliary one (or None).
    torchvision's segmentation models give ``{'out', 'aux'}``, its Inception/GoogLeNet
    a ``(logits, aux_logits...)`` named tuple in training; a plain tensor is the main one."""
    if isinstance(output, torch.Tensor):
        return output, None
    if isinstance(output, Mapping) and "out" in output:
        return output["out"], output.get("aux")
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        aux = [v for k, v in output._asdict().items() if k != "logits" and isinstance(v, torch.Tensor)]
        return logits, aux[0] if aux else None
    raise EngineError(f"{owner}: the network returned {type(output).__name__}; expected a tensor, a dict "
                      f"with 'out' (torchvision segmentation) or a named tuple with 'logits'")
