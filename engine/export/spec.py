"""The ``onnx:`` config section read into what ``torch.onnx.export`` needs.

Otter's keys: ``name`` (export wrapper), ``input_shape`` ``{input: {shape: [...], dtype:
...}}``, ``input_names``, ``output_names``, ``dynamic_axes`` ``{name: {axis: label}}`` (or
a list of axes), ``options`` (keyword arguments of ``torch.onnx.export``). Config keys are
case-insensitive, so names are matched to ``input_names``/``output_names`` without case.
Defaults: inputs from ``--input-shape`` (one float32 input named ``input_names[0]`` or
``input``); output names ``output`` / ``output_0``...; ``dynamic_axes`` empty: axis 0
(the batch) of every input and output is dynamic; ``options.dynamo`` False (torch's
TorchScript exporter: the opset asked for, Otter's dynamic_axes as they are, ~1 s).
"""
import inspect
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch

from ..utils.errors import ConfigError

__all__ = ["ExportSpec", "export_spec", "DTYPES", "output_names_for"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "float64": torch.float64,
          "int64": torch.int64, "int32": torch.int32, "uint8": torch.uint8, "bool": torch.bool}
#: arguments engine-export sets itself
_OWN = {"model", "args", "f", "input_names", "output_names", "dynamic_axes", "kwargs"}


@dataclass
class ExportSpec:
    name: str
    inputs: Dict[str, tuple]          # name -> (shape, torch dtype), in input order
    output_names: List[str]
    dynamic_axes: Dict[str, Dict[int, str]]  # may name outputs not known until traced
    options: Dict[str, object] = field(default_factory=dict)

    @property
    def input_names(self) -> List[str]:
        return list(self.inputs)


def _plain(node):
    if hasattr(node, "items"):
        return {str(k).lower(): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def _shape(value, where: str) -> tuple:
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value):
        raise ConfigError(f"{where}: expected a list of positive integers, got {value!r}")
    return tuple(value)


def _inputs(section: dict, input_names: List[str], cli_shape: Optional[Sequence[int]]) -> Dict[str, tuple]:
    if cli_shape:
        name = input_names[0] if input_names else "input"
        return {name: (_shape(list(cli_shape), "--input-shape"), torch.float32)}
    given = section.get("input_shape") or {}
    if not given:
        raise ConfigError("the input shape is not known: give --input-shape N C H W or onnx.input_shape "
                          "(e.g. {img: {shape: [1, 3, 224, 224], dtype: float32}})")
    names = input_names or list(given)
    lower = {n.lower(): n for n in names}
    unknown = sorted(k for k in given if k not in lower)
    missing = [n for n in names if n.lower() not in given]
    if unknown or missing:
        raise ConfigError(f"onnx.input_shape has {sorted(given)} but onnx.input_names is {names}"
                          + (f" (no shape for {missing})" if missing else ""))
    inputs = {}
    for name in names:
        entry = given[name.lower()]
        where = f"onnx.input_shape.{name}"
        if not isinstance(entry, dict) or set(entry) - {"shape", "dtype"} or "shape" not in entry:
            raise ConfigError(f"{where}: expected dict(shape=[...], dtype='float32'), got {entry!r}")
        dtype = str(entry.get("dtype", "float32"))
        if dtype not in DTYPES:
            raise ConfigError(f"{where}.dtype: {dtype!r} is not one of {sorted(DTYPES)}")
        inputs[name] = (_shape(entry["shape"], f"{where}.shape"), DTYPES[dtype])
    return inputs


def _options(given: dict) -> dict:
    allowed = set(inspect.signature(torch.onnx.export).parameters) - _OWN
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ConfigError(f"onnx.options: {unknown} not torch.onnx.export options; known: {sorted(allowed)}")
    return {"dynamo": False, **given}


def output_names_for(count: int, given: List[str]) -> List[str]:
    """``given`` when it names every output, else the defaults."""
    if given:
        if len(given) != count:
            raise ConfigError(f"onnx.output_names has {len(given)} names ({given}) for the wrapper's "
                              f"{count} output(s)")
        return list(given)
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def resolve_dynamic_axes(given: dict, input_names: List[str], output_names: List[str]) -> Dict[str, Dict[int, str]]:
    """``onnx.dynamic_axes`` with its keys matched to the real names; empty: batch axis 0 of all."""
    names = input_names + output_names
    if not given:
        return {n: {0: "batch_size"} for n in names}
    lower = {n.lower(): n for n in names}
    axes = {}
    for key, value in given.items():
        if key not in lower:
            raise ConfigError(f"onnx.dynamic_axes: {key!r} is neither an input nor an output; the names "
                              f"are {names} (onnx.input_names / onnx.output_names)")
        where = f"onnx.dynamic_axes.{lower[key]}"
        try:
            if isinstance(value, dict):
                axes[lower[key]] = {int(a): str(label) for a, label in value.items()}
            else:
                axes[lower[key]] = {int(a): f"{lower[key]}_dim{int(a)}" for a in value}
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {{axis: label}} or a list of axes, got {value!r}") from None
    return axes


def export_spec(node, input_shape: Optional[Sequence[int]] = None) -> ExportSpec:
    """The spec of ``cfg.ONNX`` (``input_shape``: ``--input-shape``, replacing onnx.input_shape)."""
    section = _plain(node)
    input_names = [str(n) for n in section.get("input_names") or []]
    inputs = _inputs(section, input_names, input_shape)
    return ExportSpec(name=str(section.get("name") or ""), inputs=inputs,
                      output_names=[str(n) for n in section.get("output_names") or []],
                      dynamic_axes=section.get("dynamic_axes") or {},
                      options=_options(section.get("options") or {}))
