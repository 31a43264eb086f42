"""Export a checkpoint to ONNX and verify the file in onnxruntime against torch.

The exporter is torch's TorchScript-based ``torch.onnx.export(..., dynamo=False)`` by
default (set ``onnx.options.dynamo: True`` for the torch.export-based one, which needs
onnxscript and here takes ~5 s, and raises a lower opset to 18). It was chosen because on
torch 2.14 it honours the requested ``opset_version``, takes Otter's ``dynamic_axes`` as
they are and exports the examples in about a second; both give identical numbers on the
digits network. Its deprecation warning is silenced: the choice is made here.

Nothing reaches ``--output`` before every check passed: the inputs are run through the
wrapper first (a shape or an image the network cannot take is one error naming it), the
file is written under a temporary name beside ``--output`` (utils/atomic.py's
``atomic_path``), checked by onnx.checker and, with ``--verify``, compared in onnxruntime;
only then is it renamed to ``--output``. A failure leaves a previous good file there.
"""
import logging
import math
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..inference.checked_call import run_on_input
from ..utils.atomic import atomic_path
from ..utils.errors import EngineError
from .build import build_wrapper, default_wrapper
from .spec import ExportSpec, export_spec, output_names_for, resolve_dynamic_axes

__all__ = ["export_checkpoint", "export_model", "verify_onnx", "flatten_outputs", "random_inputs"]

logger = logging.getLogger(__name__)
VERIFY_BATCH = 7


def flatten_outputs(outputs) -> List[torch.Tensor]:
    """The tensors of what a wrapper returned, in the order ONNX lists its outputs."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for o in outputs for t in flatten_outputs(o)]
    raise EngineError(f"the export wrapper returned a {type(outputs).__name__}; ONNX needs tensors "
                      f"(or tuples/lists/dicts of tensors)")


def random_inputs(spec: ExportSpec, batch: Optional[int] = None, seed: int = 0) -> List[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tensors = []
    for shape, dtype in spec.inputs.values():
        shape = (batch,) + tuple(shape[1:]) if batch is not None else tuple(shape)
        if dtype.is_floating_point:
            tensors.append(torch.randn(shape, generator=g).to(dtype))
        elif dtype == torch.bool:
            tensors.append(torch.randint(0, 2, shape, generator=g).bool())
        else:
            tensors.append(torch.randint(0, 256 if dtype == torch.uint8 else 10, shape, generator=g).to(dtype))
    return tensors


def export_model(wrapper: torch.nn.Module, spec: ExportSpec, path: str, device=None) -> ExportSpec:
    """Write ``wrapper`` to ``path`` (checked by onnx.checker); returns the spec with the
    output names and dynamic axes resolved."""
    import onnx

    example = [t.to(device) if device is not None else t for t in random_inputs(spec)]
    with torch.no_grad():
        count = len(flatten_outputs(run_on_input(wrapper, example, _shape_option(spec), wrapper,
                                                 "; give the shape the network was trained on")))
    spec.output_names = output_names_for(count, spec.output_names)
    spec.dynamic_axes = resolve_dynamic_axes(spec.dynamic_axes, spec.input_names, spec.output_names)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*feature will be removed.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        try:
            torch.onnx.export(wrapper, tuple(example), path, input_names=spec.input_names,
                              output_names=spec.output_names, dynamic_axes=spec.dynamic_axes, **spec.options)
        except Exception as e:  # the exporter's errors are many types; say what was exported
            raise EngineError(f"torch.onnx.export of {type(wrapper).__name__} failed: {type(e).__name__}: {e}") from e
    try:
        onnx.checker.check_model(onnx.load(path))
    except onnx.checker.ValidationError as e:
        reason = (str(e).strip().splitlines() or [""])[0]
        raise EngineError(f"onnx.checker refuses the exported model ({reason}); nothing was written "
                          f"(check onnx.options, e.g. its opset_version)") from None
    return spec


def _shape_option(spec: ExportSpec) -> str:
    """How the user gave the input shape, for an error message."""
    shapes = "; ".join(f"{name} {' '.join(map(str, shape))}" for name, (shape, _) in spec.inputs.items())
    return f"the input shape ({shapes}; --input-shape or onnx.input_shape)"


def check_tolerance(tolerance: float) -> None:
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise EngineError(f"--tolerance {tolerance}: expected a finite number >= 0 (the largest max abs "
                          f"difference allowed between onnxruntime and torch, e.g. 1e-4)")


def _batch_sizes(spec: ExportSpec) -> List[int]:
    first = next(iter(spec.inputs.values()))[0][0]
    dynamic = all(0 in spec.dynamic_axes.get(n, {}) for n in spec.input_names)
    if not dynamic:
        return [first]
    return [first, VERIFY_BATCH if first != VERIFY_BATCH else 1]


def verify_onnx(wrapper, spec: ExportSpec, path: str, tolerance: float, echo: Callable[[str], None],
                image_inputs: Optional[List[torch.Tensor]] = None, device=None) -> Dict[str, float]:
    """Max abs difference ONNX vs torch per ``'<output> @ <inputs>'``; raises an
    EngineError naming the outputs above ``tolerance``."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    cases = [(f"batch {b}", random_inputs(spec, b, seed=1 + b)) for b in _batch_sizes(spec)]
    if image_inputs is not None:
        cases.append(("--input-img", image_inputs))
    diffs, failed = {}, []
    for label, inputs in cases:
        with torch.no_grad():
            expected = flatten_outputs(run_on_input(wrapper, [t.to(device) if device is not None else t
                                                              for t in inputs], f"--verify at {label}", wrapper))
        feeds = {name: t.cpu().numpy() for name, t in zip(spec.input_names, inputs)}
        try:
            got = session.run(spec.output_names, feeds)
        except Exception as e:  # onnxruntime's errors are its own types (InvalidArgument, Fail...)
            reason = (str(e).strip().splitlines() or [""])[0][:300]
            raise EngineError(f"--verify at {label}: onnxruntime cannot run the exported model on inputs "
                              f"{[list(t.shape) for t in inputs]} ({reason})") from None
        for name, e, g in zip(spec.output_names, expected, got):
            e = e.detach().cpu().numpy()
            if e.shape != g.shape:
                raise EngineError(f"--verify: output {name!r} at {label}: onnxruntime gives shape {list(g.shape)}, "
                                  f"torch {list(e.shape)}")
            diff = float(np.max(np.abs(e.astype(np.float64) - g.astype(np.float64)))) if e.size else 0.0
            key = f"{name} @ {label}"
            diffs[key] = diff
            echo(f"verify: {key} (shape {list(e.shape)}): max abs diff {diff:.3g}")
            if not diff <= tolerance:
                failed.append(f"{key}: {diff:.3g}")
    if failed:
        raise EngineError(f"--verify: onnxruntime differs from torch above the tolerance {tolerance:g}: "
                          + "; ".join(failed))
    return diffs


def export_checkpoint(config_file: str, weights: str, output: str, *, input_shape: Optional[Sequence[int]] = None,
                      verify: bool = False, input_img: Optional[str] = None, tolerance: float = 1e-4,
                      fuse_conv_bn: bool = False, no_ema: bool = False, overrides=(),
                      echo: Callable[[str], None] = logger.info) -> Dict[str, float]:
    """engine-export: returns the max abs differences (empty without ``verify``)."""
    from ..inference.loading import load_trained_model
    from ..inference.predictor import Predictor, read_image

    check_tolerance(tolerance)
    cfg, model, used = load_trained_model(config_file, weights, no_ema=no_ema, overrides=overrides,
                                          fuse_conv_bn=fuse_conv_bn)
    spec = export_spec(cfg.ONNX, input_shape)
    image_inputs = None
    if input_img is not None:
        if len(spec.inputs) != 1:
            raise EngineError(f"--input-img: the export has {len(spec.inputs)} inputs; it feeds a single one")
        image_inputs = [Predictor(cfg, model, used).preprocess(read_image(input_img)).unsqueeze(0)]
    echo(f"weights: {used}")
    with model.inference_weights(autocast=False):
        wrapper = build_wrapper(spec.name, model) if spec.name else default_wrapper(
            model, [t.to(model.device) for t in random_inputs(spec)], echo)
        if image_inputs is not None:  # before anything is written
            with torch.no_grad():
                run_on_input(wrapper, [t.to(model.device) for t in image_inputs],
                             f"--input-img {input_img}", wrapper, "; give an image like the training set's")
        with atomic_path(output) as staged:
            spec = export_model(wrapper, spec, staged, device=model.device)
            diffs = verify_onnx(wrapper, spec, staged, tolerance, echo, image_inputs, device=model.device) \
                if verify else {}
        echo(f"wrote {output} (inputs {spec.input_names}, outputs {spec.output_names}, "
             f"dynamic axes {spec.dynamic_axes}; onnx.checker passed{'; verified' if verify else ''})")
        return diffs
