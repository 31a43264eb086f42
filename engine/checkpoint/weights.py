"""Loading weights for fine-tuning (``trainer.weights``): not a resume.

Accepts an engine checkpoint (its generator weights), a ``{'state_dict': ...}`` or
``{'model': ...}`` wrapper, or a bare state_dict; strips a DataParallel/DDP ``module.``
prefix; loads what matches and reports what did not (missing, unexpected, wrong shape).
"""
import logging
import os
from typing import Dict

import torch

from ..utils.errors import EngineError

__all__ = ["load_weights", "extract_state_dict"]

logger = logging.getLogger(__name__)


def extract_state_dict(payload, key: str = "g_model") -> Dict[str, torch.Tensor]:
    if isinstance(payload, dict) and "model" in payload and isinstance(payload["model"], dict):
        inner = payload["model"]
        payload = inner.get(key, inner)
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict):
        raise EngineError(f"weights file holds a {type(payload).__name__}, not a state_dict")
    return {
        (k[len("module."):] if k.startswith("module.") else k): v
        for k, v in payload.items()
        if isinstance(v, torch.Tensor)
    }


def load_weights(network: torch.nn.Module, path: str, key: str = "g_model") -> Dict[str, list]:
    if not os.path.isfile(path):
        raise EngineError(f"trainer.weights: file not found: {path!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EngineError(f"trainer.weights: {path!r} does not load ({type(e).__name__}: {e})") from None
    incoming = extract_state_dict(payload, key)
    own = network.state_dict()
    mismatched = [k for k, v in incoming.items() if k in own and own[k].shape != v.shape]
    loadable = {k: v for k, v in incoming.items() if k in own and k not in mismatched}
    network.load_state_dict(loadable, strict=False)
    report = {
        "loaded": sorted(loadable),
        "missing": sorted(k for k in own if k not in loadable and k not in mismatched),
        "unexpected": sorted(k for k in incoming if k not in own),
        "shape_mismatch": sorted(mismatched),
    }
    logger.info("loaded %d tensors from %s", len(loadable), path)
    for kind in ("missing", "unexpected", "shape_mismatch"):
        if report[kind]:
            logger.warning("weights %s: %s", kind.replace("_", " "), ", ".join(report[kind]))
    if not loadable:
        raise EngineError(f"trainer.weights: no tensor of {path!r} matches the network")
    return report
