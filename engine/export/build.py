"""Export wrappers: what of a model goes into the ONNX file (Otter's ``onnx.name``).

Training often carries branches inference does not need; a wrapper is a small
``nn.Module`` built as ``Wrapper(model)`` from the model bundle (a BaseModel) whose
``forward(*inputs)`` is the inference graph. It is built while ``model.g_model`` is the
network the weights rule chose (the EMA's when EMA is on), so it should keep references to
the networks it uses, not to the bundle's attributes. Register one with
``@EXPORT_WRAPPER_REGISTRY.register()``. ``onnx.name`` empty: :class:`GeneratorWrapper`.
"""
import torch
from torch import nn

from ..utils.errors import ConfigError
from ..utils.registry import Registry, lookup

__all__ = ["EXPORT_WRAPPER_REGISTRY", "GeneratorWrapper", "build_wrapper"]

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


def build_wrapper(name: str, model) -> torch.nn.Module:
    """The wrapper ``onnx.name`` names ('' = the generator), around ``model``, in eval mode."""
    cls = lookup(EXPORT_WRAPPER_REGISTRY, name or "GeneratorWrapper", "onnx.name")
    wrapper = cls(model)
    if not isinstance(wrapper, nn.Module):
        raise ConfigError(f"onnx.name {name!r}: {cls.__name__}(model) is a {type(wrapper).__name__}, not an nn.Module")
    return wrapper.eval()
