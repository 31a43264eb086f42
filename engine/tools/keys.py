"""Finding and editing the weights inside a checkpoint file (shared by the key tools).

The *weight states* of a file are the flat ``{name: tensor}`` dicts in it: for an engine
checkpoint, the entries of ``payload['model']`` that are network state_dicts (``g_model``,
``g_ema``, a GAN's discriminators; not ``g_solver``), for any other file the state_dict
itself (a bare one, or inside ``{'state_dict': ...}`` / ``{'model': ...}``). An EMA state
(``torch.optim.swa_utils.AveragedModel``) keeps its network under ``module.`` plus an
``n_averaged`` counter: key edits apply to the network's own key names, inside that.
"""
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..checkpoint.io import is_engine_checkpoint
from ..utils.errors import EngineError

__all__ = ["weight_states", "edit_keys", "inner_prefix", "compile_rules"]

EMA_PREFIX = "module."


EMA_COUNTERS = ("n_averaged", "_extra_state")  # AveragedModel's own entries, beside module.*


def _is_state_dict(obj) -> bool:
    """A module's state_dict: tensors, plus ``*_extra_state`` entries of any type."""
    return isinstance(obj, dict) and any(isinstance(v, torch.Tensor) for v in obj.values()) and all(
        isinstance(v, torch.Tensor) or str(k).endswith("_extra_state") for k, v in obj.items())


def inner_prefix(state: Dict[str, torch.Tensor]) -> str:
    """``'module.'`` for an AveragedModel (EMA) state, else ``''``."""
    return EMA_PREFIX if "n_averaged" in state and all(
        k in EMA_COUNTERS or k.startswith(EMA_PREFIX) for k in state) else ""


def weight_states(payload, names: Optional[Sequence[str]] = None) -> List[Tuple[str, dict]]:
    """``(label, state_dict)`` for the weight states of ``payload`` (``names``: only
    those states of an engine checkpoint). The dicts are the payload's own: edit in place."""
    if is_engine_checkpoint(payload):
        model = payload["model"]
        available = [n for n, v in model.items() if _is_state_dict(v)]
        if names:
            unknown = [n for n in names if n not in model]
            if unknown:
                raise EngineError(f"the checkpoint has no state {unknown[0]!r}; it holds {sorted(model)}")
            not_weights = [n for n in names if n not in available]
            if not_weights:
                raise EngineError(f"state {not_weights[0]!r} is not network weights; weight states: {available}")
            available = list(names)
        return [(f"model.{n}", model[n]) for n in available]
    if names:
        raise EngineError("--state applies to engine checkpoints; this file is a plain state_dict")
    for key in ("state_dict", "model"):
        if isinstance(payload, dict) and _is_state_dict(payload.get(key)):
            return [(key, payload[key])]
    if _is_state_dict(payload):
        return [("state_dict", payload)]
    raise EngineError("the file holds no state_dict of tensors (is it a weights file or checkpoint?)")


def edit_keys(payload, rename: Callable[[str], str], names: Optional[Sequence[str]] = None
              ) -> List[Tuple[str, str, str]]:
    """Rename the keys of every weight state in place; returns ``(state, old, new)`` for
    each key that changed. Two keys of one state renamed to the same name is an error."""
    changes = []
    for label, state in weight_states(payload, names):
        prefix = inner_prefix(state)
        renamed = {}
        for key, value in state.items():
            new = key
            if key.startswith(prefix) and not (prefix and key in EMA_COUNTERS):
                new = prefix + rename(key[len(prefix):])
            if not new:
                raise EngineError(f"{label}: {key!r} would be renamed to an empty name")
            if new in renamed:
                raise EngineError(f"{label}: {renamed[new][0]!r} and {key!r} would both be named {new!r}")
            renamed[new] = (key, value)
            if new != key:
                changes.append((label, key, new))
        state.clear()
        state.update({new: value for new, (_, value) in renamed.items()})
    return changes


def compile_rules(rules: Sequence[Sequence[str]]) -> List[Tuple[re.Pattern, str]]:
    compiled = []
    for pattern, replacement in rules:
        try:
            compiled.append((re.compile(pattern), replacement))
        except re.error as e:
            raise EngineError(f"bad regular expression {pattern!r}: {e}") from None
    return compiled


def sample_keys(payload, names=None, count: int = 4) -> str:
    keys = [k for _, state in weight_states(payload, names) for k in state][:count]
    return ", ".join(keys)
