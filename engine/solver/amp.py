"""Mixed precision from ``solver.amp``: ``torch.autocast`` around the forward passes and,
for float16, one ``torch.amp.GradScaler`` shared by every optimizer of the bundle.

* ``bfloat16`` (CPU and CUDA): autocast only. bf16 has float32's exponent range, so
  gradients do not underflow and no loss scaling is needed.
* ``float16`` (CUDA only): autocast plus dynamic loss scaling. The loss is multiplied by
  the scale before backward; before each optimizer step the gradients are unscaled
  (clipping, when on, sees the true gradients); a step whose gradients overflowed is
  skipped and the scale is multiplied by ``backoff_factor``; after ``growth_interval``
  good steps it grows by ``growth_factor``. Requesting float16 on a CPU device is a
  config error: CPU kernels gain nothing from it and bf16 is the CPU's format.

The bundle owns the scaler (it is model state, saved in checkpoints) and calls
``scaler.update()`` once per iteration after every optimizer stepped, as torch documents
for several optimizers (a GAN's generator and discriminators).
"""
import contextlib
from typing import Optional

import torch

from engine.utils.errors import ConfigError
from ..config.defaults import default_of
from ..utils.registry import options_with_defaults

__all__ = ["Amp", "build_amp", "AMP_DTYPES"]

AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16"}
# solver.amp's defaults, written once in engine/config/defaults.py
_DEFAULT = default_of("solver.amp")
_NULL = contextlib.nullcontext()


class Amp:
    """What autocast to enter and whether a GradScaler is needed (disabled: no-ops)."""

    def __init__(self, enabled: bool = _DEFAULT["enabled"], dtype: torch.dtype = AMP_DTYPES[_DEFAULT["dtype"]],
                 device_type: str = "cpu", eval: bool = _DEFAULT["eval"],
                 init_scale: float = _DEFAULT["init_scale"], growth_interval: int = _DEFAULT["growth_interval"]):
        self.enabled = bool(enabled)
        self.dtype = dtype
        self.device_type = device_type
        self.eval = bool(eval)
        self.init_scale = float(init_scale)
        self.growth_interval = int(growth_interval)

    def autocast(self):
        """The context the training forward passes run in."""
        if not self.enabled:
            return _NULL
        return torch.autocast(self.device_type, dtype=self.dtype)

    def eval_autocast(self):
        """The context evaluation runs in: the training autocast when ``solver.amp.eval``."""
        return self.autocast() if self.eval else _NULL

    @property
    def needs_scaler(self) -> bool:
        return self.enabled and self.dtype == torch.float16

    def make_scaler(self) -> Optional[torch.amp.GradScaler]:
        if not self.needs_scaler:
            return None
        return torch.amp.GradScaler(self.device_type, init_scale=self.init_scale,
                                    growth_interval=self.growth_interval)

    def __repr__(self):
        if not self.enabled:
            return "Amp(disabled)"
        scaler = ", GradScaler" if self.needs_scaler else ""
        return f"Amp({self.device_type}, {str(self.dtype).replace('torch.', '')}{scaler})"


def build_amp(node, device: torch.device, where: str = "solver.amp") -> Amp:
    """The :class:`Amp` a ``solver.amp`` node asks for on ``device``; checks the request."""
    cfg = options_with_defaults(node, _DEFAULT, where)
    raw = cfg["dtype"]
    name = _ALIASES.get(str(raw).lower(), str(raw).lower()).replace("torch.", "")
    if name not in AMP_DTYPES:
        raise ConfigError(f"{where}.dtype must be one of {list(AMP_DTYPES)}, got {raw!r}")
    if not cfg["enabled"]:
        return Amp(False, AMP_DTYPES[name], device.type)
    if device.type == "cpu" and name == "float16":
        raise ConfigError(
            f"{where}.dtype='float16' needs a CUDA device, but trainer.device is cpu: "
            f"use {where}.dtype 'bfloat16' on the CPU (or set {where}.enabled False)")
    if device.type == "cuda" and name == "bfloat16" and not _native_bf16(device):
        raise ConfigError(f"{where}.dtype='bfloat16': this GPU ({device}) has no native bfloat16 "
                          f"(compute capability 8.0 or later, Ampere on); use 'float16' (with loss scaling)")
    if not float(cfg["init_scale"]) > 0 or int(cfg["growth_interval"]) < 1:
        raise ConfigError(f"{where}: init_scale must be > 0 and growth_interval >= 1, got "
                          f"{cfg['init_scale']!r} and {cfg['growth_interval']!r}")
    return Amp(True, AMP_DTYPES[name], device.type, cfg["eval"], cfg["init_scale"],
               cfg["growth_interval"])


def _native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively. ``is_bf16_supported()`` alone
    says True on a V100 or a T4 too (it counts emulation: a bf16 tensor can be made), and
    asks the current device, not necessarily the training one."""
    if device.index is None:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    with torch.cuda.device(device.index):
        return torch.cuda.is_bf16_supported(including_emulation=False)
