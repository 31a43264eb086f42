"""A trained model ready for inference: config + model bundle + the weights training evaluated.

The test tool, the Predictor and engine-export build the model exactly as training did
(``engine.config.load_cfg``, ``engine.model.build.build_model``) and load the checkpoint by
the one weights rule (``engine.checkpoint.evaluated``: the EMA's weights when the file holds
them and EMA is on; ``no_ema=True`` chooses the raw ones). Weights that do not fit the
network are an error with the table of missing / unexpected / mismatched tensors.
"""
import os
from typing import Optional, Sequence, Tuple

from ..checkpoint.evaluated import load_evaluated_weights
from ..utils.errors import EngineError

__all__ = ["load_trained_model", "inference_network"]


def load_trained_model(config, weights: str, *, device: Optional[str] = None, no_ema: bool = False,
                       overrides: Sequence[str] = (), fuse_conv_bn: bool = False) -> Tuple[object, object, str]:
    """``(cfg, model, used)``: the config loaded from the file ``config`` (with ``overrides``), the model bundle
    on its device with ``weights`` loaded, and the sentence saying which weights it uses."""
    from ..config.loader import load_cfg
    from ..model.build import build_model

    if not weights or not os.path.exists(weights):  # a folder: a distributed checkpoint (trainer.fsdp)
        raise EngineError(f"--weights: file not found: {weights!r}")
    extra = list(overrides)
    if device is not None:
        extra += ["trainer.device", str(device)]
    if no_ema:
        extra += ["trainer.model.ema.enabled", "False"]
    if not os.path.isfile(str(config)):
        raise EngineError(f"--config-file: file not found: {config!r}")
    cfg = load_cfg(str(config), extra)
    model = build_model(cfg)
    model.modules_to_device()
    used = load_evaluated_weights(model, weights, prefixes=cfg.TRAINER.WEIGHTS_PREFIXES, what="--weights")
    if fuse_conv_bn:
        from .fuse import fuse_conv_bn as fuse

        fuse(inference_network(model))
    model.eval()
    return cfg, model, used


def inference_network(model):
    """The network evaluation runs: the EMA's when EMA is on, else the generator."""
    ema = getattr(model, "g_ema", None)
    return ema.module if ema is not None else model.unwrapped("g_model")
