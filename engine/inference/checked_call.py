"""A network run on an input the user chose, whose failure is the input's fault.

The Predictor's images and engine-export's ``--input-shape`` / ``--input-img`` come from
the user; a network given the wrong number of channels (a colour image for a grey
network), too few dimensions or too small a picture fails deep inside torch with a
RuntimeError, IndexError or ValueError that names neither the input nor the option.
:func:`run_on_input` turns those into one :class:`EngineError` naming what was given
(its shape), what the network's first layer takes, and the original message. Out of
memory is not the input's shape: it keeps its own error.
"""
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import nn

from ..utils.errors import EngineError

__all__ = ["run_on_input", "first_layer"]


def first_layer(network: Optional[nn.Module]) -> Optional[Tuple[str, nn.Module]]:
    """The first convolution or linear layer of ``network`` (registration order), if any."""
    if network is None:
        return None
    for name, module in network.named_modules():
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            return name, module
    return None


def _takes(network: Optional[nn.Module]) -> str:
    found = first_layer(network)
    if found is None:
        return ""
    name, layer = found
    if isinstance(layer, nn.Linear):
        return f"; its first layer ({name}, Linear) takes {layer.in_features} features"
    dims = type(layer).__name__[-2:].lower()
    return (f"; its first layer ({name}, {type(layer).__name__}) takes N x {layer.in_channels} x "
            f"{'H x W' if dims == '2d' else '...'} ({layer.in_channels} channel(s))")


def run_on_input(fn: Callable, inputs: Sequence[torch.Tensor], what: str, network: Optional[nn.Module] = None,
                 hint: str = ""):
    """``fn(*inputs)``; a shape/type failure becomes an EngineError starting with ``what``
    (e.g. ``'--input-shape 1 3 16 16'``) and ending with ``hint`` (what to do)."""
    try:
        return fn(*inputs)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, IndexError) as e:
        shapes = ", ".join(str(list(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__ for t in inputs)
        reason = (str(e).strip().splitlines() or [""])[0][:300]
        raise EngineError(f"{what}: the network cannot take an input of shape {shapes} "
                          f"({type(e).__name__}: {reason}){_takes(network)}{hint}") from None
