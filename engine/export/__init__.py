"""ONNX export (doc/export.md): the ``onnx:`` section, export wrappers, onnxruntime checks."""
from .build import EXPORT_WRAPPER_REGISTRY, GeneratorWrapper, NetworkWrapper, build_wrapper, default_wrapper
from .onnx_export import export_checkpoint, export_model, verify_onnx
from .spec import ExportSpec, export_spec

__all__ = ["EXPORT_WRAPPER_REGISTRY", "GeneratorWrapper", "NetworkWrapper", "build_wrapper", "default_wrapper",
           "export_checkpoint", "export_model",
           "verify_onnx", "ExportSpec", "export_spec"]
