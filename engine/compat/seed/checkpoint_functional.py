"""The seed's ``engine.checkpoint.functional``: state dicts of (possibly wrapped) models.

``load_model_state_dict`` is the seed's tolerant load (what fits is loaded, the rest is
reported) done by our fine-tuning matcher (engine/checkpoint/weights.py), so it also
finds keys saved under a DataParallel/DDP ``module.`` prefix, which the seed dropped as
unknown.
"""
import logging
from typing import Optional

import torch

from engine.checkpoint.weights import format_report, match_report

__all__ = ["get_model_state_dict", "load_model_state_dict", "load_checkpoint_state_dict"]

logger = logging.getLogger(__name__)

_WRAPPERS = (torch.nn.parallel.DistributedDataParallel, torch.nn.parallel.DataParallel)


def _unwrap(model):
    return model.module if isinstance(model, _WRAPPERS) else model


def get_model_state_dict(model):
    """``model.state_dict()``, without a DP/DDP wrapper's ``module.`` (also used by the
    seed for optimizers and schedulers, which have no wrapper)."""
    return _unwrap(model).state_dict()


def load_model_state_dict(model, state_dict, log_name: Optional[str] = None):
    """Load the tensors of ``state_dict`` whose name (as is, else without ``module.``) and
    shape match; report the others on the ``log_name`` logger. Returns the report
    (``loaded``, ``missing``, ``unexpected``, ``shape_mismatch`` key lists)."""
    network = _unwrap(model)
    own = network.state_dict()
    lazy = {k for k, v in own.items() if isinstance(v, torch.nn.parameter.UninitializedParameter)}
    sized = {k: v for k, v in own.items() if k not in lazy}
    tensors = {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    loadable, report = match_report(sized, tensors, prefixes=("module.",))
    # lazy parameters take their shape from what is loaded; extra states are not tensors
    loadable.update({k: v for k, v in state_dict.items() if k in own and (k in lazy or k not in tensors)})
    network.load_state_dict(loadable, strict=False)
    if report["missing"] or report["unexpected"] or report["shape_mismatch"]:
        logging.getLogger(log_name or __name__).warning(
            "loaded %d of the model's %d tensors; not loaded:\n%s",
            len(loadable), len(own), format_report(report, own))
    return report


def load_checkpoint_state_dict(model, state_dict):
    """A strict ``load_state_dict`` (optimizers, schedulers, resumed models)."""
    return _unwrap(model).load_state_dict(state_dict)
