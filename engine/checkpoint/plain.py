"""Values a checkpoint can hold: what ``torch.load(weights_only=True)`` reads back.

Every reader of a checkpoint loads it with ``weights_only=True`` (io.py,
checkpointer.py): tensors, numbers, strings, bytes, None, torch sizes, dtypes and
devices, in dicts, lists, tuples and sets. One other object anywhere in the file (a
NumPy float a hook returned as its best metric) makes the whole file unloadable, and
that shows only at the next ``--resume``, for every checkpoint of the run. So the parts
of a checkpoint the engine does not write itself, the hooks' ``state_dict()``, are
passed through :func:`loadable` at every save: NumPy scalars become the Python numbers
they hold and NumPy arrays tensors (what ``load_state_dict`` gets back on resume);
anything else is refused at once, naming its owner and key, before a file is written.
"""
from collections import Counter, OrderedDict
from typing import Any

import numpy as np
import torch

from ..utils.errors import EngineError

__all__ = ["loadable"]

LEAVES = (int, float, complex, bool, str, bytes, bytearray, type(None), torch.Size, torch.dtype, torch.device)
CONTAINERS = (dict, OrderedDict, Counter, list, tuple, set)  # exactly these types (no subclasses)


def loadable(value: Any, owner: str, path: str = "") -> Any:
    """``value`` with NumPy scalars and arrays converted; an EngineError naming
    ``owner`` (e.g. "hook X's state_dict()") and the key for anything that would not load."""
    if isinstance(value, torch.Tensor) or type(value) in LEAVES:
        return value
    if isinstance(value, np.generic):
        return loadable(value.item(), owner, path)  # np.float64 -> float, np.bool_ -> bool, ...
    if isinstance(value, np.ndarray):
        try:
            return torch.from_numpy(np.ascontiguousarray(value)).clone()
        except TypeError:  # object or string arrays
            _refuse(value, owner, path, f"a NumPy array of dtype {value.dtype}")
    if type(value) in (dict, OrderedDict, Counter):
        items = ((loadable(k, owner, f"{path}[{k!r}]"), loadable(v, owner, f"{path}[{k!r}]"))
                 for k, v in value.items())
        return type(value)(items) if type(value) is not Counter else Counter(dict(items))
    if type(value) in (list, tuple, set):
        return type(value)(loadable(v, owner, f"{path}[{i}]") for i, v in enumerate(value))
    _refuse(value, owner, path, f"a {type(value).__module__}.{type(value).__qualname__}")


def _refuse(value: Any, owner: str, path: str, what: str) -> None:
    raise EngineError(
        f"{owner} holds {what} at {path or 'its top level'} ({value!r:.60}), which torch.load(weights_only=True) "
        f"cannot read back: no checkpoint of this run would load; return numbers, strings, tensors, and "
        f"lists, tuples and dicts of them (e.g. float(x), torch.as_tensor(x))")
