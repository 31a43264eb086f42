"""Which weights a trained model is evaluated, served and exported with: one rule.

Training evaluates its EMA copy when EMA is on (``BaseModel.inference_weights``), so a
checkpoint is judged by ``model.g_ema``. Everything that uses a checkpoint afterwards
(``--eval-only trainer.weights ...``, ``engine-test``, ``Predictor``, ``engine-export``)
therefore uses **the EMA's weights when the file holds them and EMA is on**, and the
trained (raw) generator weights otherwise; EMA off (``--no-ema``, i.e.
``trainer.model.ema.enabled False``) chooses the raw ones. :func:`load_evaluated_weights`
is that rule; it returns (and logs) a sentence saying which weights it loaded.

The generator always gets the raw weights (fine-tuning continues from them); the EMA's
network gets the file's EMA weights. Its update count is not taken from the file, so
the first optimizer step of a fine-tuning run still starts the average afresh from the
generator (as before), while an evaluation before any step sees the file's EMA.
"""
import logging
from typing import Dict, Optional, Sequence

import torch

from ..utils.errors import EngineError
from .io import is_engine_checkpoint, load_file
from .weights import DEFAULT_PREFIXES, extract_state_dict, format_report, load_weights, match_report

__all__ = ["load_evaluated_weights", "ema_network_state"]

logger = logging.getLogger(__name__)


def ema_network_state(ema_state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The network weights inside a ``ModelEMA`` state (``module.*``; without its
    ``n_averaged`` and step count)."""
    return {k[len("module."):]: v for k, v in ema_state.items()
            if k.startswith("module.") and isinstance(v, torch.Tensor)}


def _load_into(network: torch.nn.Module, incoming, path: str, what: str, prefixes, strict: bool):
    own = network.state_dict()
    loadable, report = match_report(own, incoming, prefixes)
    bad = report["missing"] or report["unexpected"] or report["shape_mismatch"]
    if not loadable or (strict and bad):
        raise EngineError(
            f"{what}: the weights of {path!r} do not fit the network ({len(report['missing'])} missing, "
            f"{len(report['unexpected'])} unexpected, {len(report['shape_mismatch'])} shape-mismatched "
            f"tensor(s); prefixes stripped: {list(prefixes)}):\n{format_report(report, own)}")
    network.load_state_dict(loadable, strict=False)
    if bad:
        logger.warning("%s: %d missing, %d unexpected, %d shape-mismatched tensor(s) in %s "
                       "(the network keeps its own values for those):\n%s", what, len(report["missing"]),
                       len(report["unexpected"]), len(report["shape_mismatch"]), path, format_report(report, own))
    return report


def load_evaluated_weights(model, path: str, *, prefixes: Optional[Sequence[str]] = None,
                           strict: bool = True, what: str = "weights") -> str:
    """Load ``path`` into the bundle ``model`` (a BaseModel) by the rule above.

    ``strict``: every tensor must fit (a table of the missing / unexpected / mismatched
    ones otherwise); ``strict=False`` (fine-tuning) loads what matches and warns.
    Returns the sentence saying which weights evaluation will use."""
    prefixes = DEFAULT_PREFIXES if prefixes is None else tuple(str(p) for p in prefixes)
    payload = load_file(path, f"{what}: ")
    try:
        raw = extract_state_dict(payload, "g_model")
    except EngineError as e:
        raise EngineError(f"{what}: {path!r}: {e}") from None
    ema_in_file = None
    if is_engine_checkpoint(payload) and isinstance(payload["model"].get("g_ema"), dict):
        ema_in_file = ema_network_state(payload["model"]["g_ema"]) or None
    network = model.unwrapped("g_model")
    if strict:
        _load_into(network, raw, path, what, prefixes, strict)
    else:  # fine-tuning: trainer.weights' own lenient loading, messages and report
        load_weights(network, path, prefixes=prefixes)
    ema = getattr(model, "g_ema", None)
    if ema is not None and ema_in_file is not None:
        _load_into(ema.module, ema_in_file, path, what + " (EMA)", prefixes, strict)
        used = f"the EMA weights (g_ema) of {path}"
    elif ema is not None:
        ema.module.load_state_dict(network.state_dict())
        used = f"the raw weights (g_model) of {path} (the file holds no EMA weights)"
    else:
        used = f"the raw weights (g_model) of {path}"
        if ema_in_file is not None:
            used += " (EMA off: its EMA weights are not used)"
    logger.info("%s: evaluating with %s", what, used)
    return used
