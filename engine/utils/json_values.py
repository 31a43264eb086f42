"""Values written as JSON by the engine (metrics.jsonl, engine-test's metrics.json and
predictions): numbers, numpy arrays and tensors as plain JSON values, NaN and inf as
``null``. JSON has no such numbers: ``json.dumps`` would write a bare ``NaN`` that strict
readers (jq, JavaScript, pandas' default engine) refuse, for the whole line."""
import json
import math

import numpy as np
import torch

__all__ = ["to_json", "dumps"]


def to_json(value):
    """``value`` with tensors, arrays and numpy scalars made plain, non-finite floats None."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return np.where(np.isfinite(value), value, None).tolist()
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def dumps(value, **kwargs) -> str:
    """``json.dumps`` of :func:`to_json` (strict: a non-finite number left would raise)."""
    return json.dumps(to_json(value), allow_nan=False, **kwargs)
