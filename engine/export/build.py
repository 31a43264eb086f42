"""Export wrappers: what of a model goes into the ONNX file (Otter's ``onnx.name``).

Training often carries branches inference does not need; a wrapper is a small
``nn.Module`` built as ``Wrapper(model)`` from the model bundle (a BaseModel) whose
``forward(*inputs)`` is the inference graph. It is built while ``model.g_model`` is the
network the weights rule chose (the EMA's when EMA is on), so it should keep references to
the networks it uses, not to the bundle's attributes. Register one with
``@EXPORT_WRAPPER_REGISTRY.register()``.

``onnx.name`` empty (:func:`default_wrapper`): the model's ``generator``, or the network
itself for a project written for the seed engine, whose ``generator(data)`` reads the
test loader's batch dict (``data['img']``): the seed deployed such a project by exporting
its network on an image tensor (SDWSeg's ``tool/export.py``), so that is what is
exported for it, with a line saying so.
"""
import warnings
from collections.abc import Mapping
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_pre_hook

from ..utils.errors import ConfigError, EngineError
from ..utils.registry import Registry, lookup

__all__ = ["EXPORT_WRAPPER_REGISTRY", "GeneratorWrapper", "NetworkWrapper", "build_wrapper", "default_wrapper"]

EXPORT_WRAPPER_REGISTRY = Registry("EXPORT_WRAPPER")
EXPORT_WRAPPER_REGISTRY.__doc__ = "nn.Module wrappers Wrapper(model) named by onnx.name (engine-export)."


@EXPORT_WRAPPER_REGISTRY.register()
class GeneratorWrapper(nn.Module):
    """The model's ``generator(inputs)``: what evaluation and the Predictor call."""

    def __init__(self, model):
        super().__init__()
        self.network = model.g_model  # registered, so .eval() and the export see its weights
        self._model = [model]         # a list: not a submodule (no second copy of the weights)
        self._generator = type(model).generator

    def forward(self, *inputs):
        model = self._model[0]
        trained, model.g_model = model.g_model, self.network
        try:
            return self._generator(model, *inputs)
        finally:
            model.g_model = trained


@EXPORT_WRAPPER_REGISTRY.register()
class NetworkWrapper(nn.Module):
    """The model's network itself, ``g_model(*inputs)``."""

    def __init__(self, model):
        super().__init__()
        self.network = model.g_model

    def forward(self, *inputs):
        return self.network(*inputs)


class _ReadsBatch(Exception):
    """Raised by :class:`_BatchProbe` when the generator reads it."""


class _BatchProbe(Mapping):
    """A batch dict that stops the generator at its first read (the seed's
    ``generator(data)`` starts with ``data['img']``)."""

    def __getitem__(self, key):
        raise _ReadsBatch(key)

    def __iter__(self):
        raise _ReadsBatch(None)

    def __len__(self) -> int:
        return 1


def _probe(generator: GeneratorWrapper, args) -> Tuple[bool, Optional[Exception]]:
    """Run ``generator(*args)`` once: (whether any module of its network ran, the error
    it raised or None). Any module, not only the network's call: a generator may call a
    method of it (``self.g_model.forward_test(img)``)."""
    members = {id(m) for m in generator.network.modules()}
    reached = []

    def seen(module, inputs):
        if id(module) in members:
            reached.append(True)

    hook = register_module_forward_pre_hook(seen)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a probe: what the generator warns about is moot
            generator(*args)
        return bool(reached), None
    except torch.OutOfMemoryError:
        raise
    except Exception as e:  # whatever the user's generator raises
        return bool(reached), e
    finally:
        hook.remove()


def default_wrapper(model, inputs, echo) -> torch.nn.Module:
    """``onnx.name`` empty: :class:`GeneratorWrapper`; :class:`NetworkWrapper` when the
    generator is the seed's kind, said through ``echo``.

    The seed's kind: on the input tensors the generator fails before its network runs,
    and given a batch dict it reads it. A generator failing inside its network is kept
    (the export's own check of the inputs reports their shape); one failing before its
    network otherwise is an error, not a silently different graph."""
    generator = build_wrapper("", model)
    reached, error = _probe(generator, inputs)
    if error is None or reached:
        return generator
    reason = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"
    if isinstance(_probe(generator, [_BatchProbe()])[1], _ReadsBatch):
        echo(f"onnx: {type(model).__name__}.generator takes the seed's batch dict, not tensors ({reason}); "
             f"exporting the network g_model itself, as the seed's export tool did (onnx.name names "
             f"another graph)")
        return build_wrapper("NetworkWrapper", model)
    raise EngineError(f"onnx: {type(model).__name__}.generator failed on the input tensors before reaching "
                      f"its network ({reason}); fix it, or set onnx.name to an export wrapper "
                      f"(NetworkWrapper: the network alone)")


def build_wrapper(name: str, model) -> torch.nn.Module:
    """The wrapper ``onnx.name`` names ('' = the generator), around ``model``, in eval mode."""
    cls = lookup(EXPORT_WRAPPER_REGISTRY, name or "GeneratorWrapper", "onnx.name")
    wrapper = cls(model)
    if not isinstance(wrapper, nn.Module):
        raise ConfigError(f"onnx.name {name!r}: {cls.__name__}(model) is a {type(wrapper).__name__}, not an nn.Module")
    return wrapper.eval()
