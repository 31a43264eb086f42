"""Loading weights for fine-tuning (``trainer.weights``): not a resume.

Accepts

* an engine checkpoint (its generator weights, ``payload['model']['g_model']``),
* a ``{'state_dict': ...}`` or ``{'model': ...}`` wrapper, or a bare state_dict,
* a ``.safetensors`` file,

always through ``torch.load(weights_only=True)`` (or safetensors), so loading a file
never runs code. Key prefixes that wrappers add (``trainer.weights_prefixes``, default
DataParallel/DDP's ``module.`` and ``torch.compile``'s ``_orig_mod.``) are stripped from
keys the network does not know as they are. Tensors whose name and shape match are
loaded; the others are reported in one table (missing, unexpected, shape mismatch); a
file with no matching tensor is an error.
"""
import logging
from typing import Dict, Optional, Sequence

import torch
from tabulate import tabulate

from ..config.defaults import default_of
from ..utils.errors import EngineError
from .io import is_engine_checkpoint, load_file

__all__ = ["load_weights", "extract_state_dict", "strip_prefixes", "match_report",
           "format_report", "DEFAULT_PREFIXES"]

logger = logging.getLogger(__name__)

# trainer.weights_prefixes' default (engine/config/defaults.py), also the ckpt tools' default
DEFAULT_PREFIXES = tuple(default_of("trainer.weights_prefixes"))


def extract_state_dict(payload, key: str = "g_model") -> Dict[str, torch.Tensor]:
    """The ``{name: tensor}`` weights inside whatever a weights file holds."""
    if is_engine_checkpoint(payload):
        inner = payload["model"]
        if key not in inner:
            raise EngineError(f"the engine checkpoint has no {key!r} state; it holds {sorted(inner)}")
        payload = inner[key]
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    elif isinstance(payload, dict) and isinstance(payload.get("model"), dict):
        payload = payload["model"]
    if not isinstance(payload, dict):
        raise EngineError(f"the file holds a {type(payload).__name__}, not a state_dict")
    tensors = {str(k): v for k, v in payload.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise EngineError("the file holds no tensors (is it a state_dict?)")
    return tensors


def strip_prefixes(name: str, prefixes: Sequence[str]) -> str:
    """``name`` without any leading ``prefixes`` (repeatedly: 'module.module.x' -> 'x')."""
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if prefix and name.startswith(prefix):
                name, changed = name[len(prefix):], True
    return name


def match_report(own: Dict[str, torch.Tensor], incoming: Dict[str, torch.Tensor],
                 prefixes: Sequence[str] = DEFAULT_PREFIXES):
    """(loadable state, report): ``incoming`` keys matched to ``own`` (as they are, else
    with ``prefixes`` stripped), split into loaded / missing / unexpected / mismatched."""
    renamed: Dict[str, torch.Tensor] = {}
    origin: Dict[str, str] = {}
    for key, value in incoming.items():
        name = key if key in own else strip_prefixes(key, prefixes)
        if name in renamed and origin[name] in own:
            continue  # an exact match wins over a stripped one
        renamed[name], origin[name] = value, key
    mismatched = sorted(k for k, v in renamed.items() if k in own and tuple(own[k].shape) != tuple(v.shape))
    loadable = {k: v for k, v in renamed.items() if k in own and k not in mismatched}
    report = {
        "loaded": sorted(loadable),
        "missing": sorted(k for k in own if k not in loadable and k not in mismatched),
        "unexpected": sorted(origin[k] for k in renamed if k not in own),
        "shape_mismatch": mismatched,
        "shapes": {k: (tuple(renamed[k].shape) if k in renamed else None,
                       tuple(own[k].shape) if k in own else None) for k in mismatched},
        "unexpected_shapes": {origin[k]: tuple(v.shape) for k, v in renamed.items() if k not in own},
    }
    return loadable, report


def format_report(report, own: Optional[Dict[str, torch.Tensor]] = None) -> str:
    """One table of every tensor that was not loaded, and why."""
    own = own or {}

    def shape(s):
        return "x".join(str(d) for d in s) if s is not None else ""

    rows = [[k, "missing in the file", "", shape(tuple(own[k].shape)) if k in own else ""]
            for k in report["missing"]]
    rows += [[k, "unexpected (not in the network)", shape(report["unexpected_shapes"].get(k)), ""]
             for k in report["unexpected"]]
    rows += [[k, "shape mismatch", shape(report["shapes"][k][0]), shape(report["shapes"][k][1])]
             for k in report["shape_mismatch"]]
    return tabulate(rows, headers=["key", "not loaded", "file shape", "network shape"])


def load_weights(network: torch.nn.Module, path: str, key: str = "g_model",
                 prefixes: Optional[Sequence[str]] = None) -> Dict[str, list]:
    """Load what matches from ``path`` into ``network``; returns the report
    (``loaded``, ``missing``, ``unexpected``, ``shape_mismatch`` key lists)."""
    prefixes = DEFAULT_PREFIXES if prefixes is None else tuple(str(p) for p in prefixes)
    payload = load_file(path, "trainer.weights: ")
    try:
        incoming = extract_state_dict(payload, key)
    except EngineError as e:
        raise EngineError(f"trainer.weights: {path!r}: {e}") from None
    own = network.state_dict()
    loadable, report = match_report(own, incoming, prefixes)
    if not loadable:
        raise EngineError(
            f"trainer.weights: no tensor of {path!r} matches the network "
            f"(file keys look like {sorted(incoming)[:3]}, the network's like {sorted(own)[:3]}; "
            f"trainer.weights_prefixes strips {list(prefixes)})"
        )
    network.load_state_dict(loadable, strict=False)
    logger.info("trainer.weights: loaded %d of the network's %d tensors from %s",
                len(loadable), len(own), path)
    if report["missing"] or report["unexpected"] or report["shape_mismatch"]:
        logger.warning(
            "trainer.weights: %d missing, %d unexpected, %d shape-mismatched tensor(s) in %s "
            "(the network keeps its own values for those):\n%s",
            len(report["missing"]), len(report["unexpected"]), len(report["shape_mismatch"]), path,
            format_report(report, own))
    return report


def check_resume_fits(networks: Dict[str, torch.nn.Module], saved: Dict[str, dict], path: str) -> None:
    """Refuse (before anything is loaded or written) a checkpoint whose networks do not
    have the config's tensors: the key/shape table of what differs, one error."""
    for name, network in networks.items():
        state = saved.get(name)
        if not isinstance(state, dict):
            continue
        own = network.state_dict()
        incoming = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        _, report = match_report(own, incoming, prefixes=())
        if report["missing"] or report["unexpected"] or report["shape_mismatch"]:
            raise EngineError(
                f"--resume: checkpoint {path} does not fit the network the config builds ({name}: "
                f"{len(report['missing'])} missing, {len(report['unexpected'])} unexpected, "
                f"{len(report['shape_mismatch'])} shape-mismatched tensor(s)); nothing was loaded or "
                f"written. Resume with the config that wrote it, or start a new run (another "
                f"output_log_name, trainer.weights to reuse what fits):\n{format_report(report, own)}")
