"""The seed's key locations, accepted as aliases of ours (doc/config.md, "The seed's keys").

The seed (TrainFramework's ``defaults.py`` / ``config.md``) keeps some settings where our
tree does not. Each alias is rewritten to our key as the config is read, per source (one
file, one command-line override), so the rest of the engine knows one key per setting:

================================== ===========================================
seed                               ours
================================== ===========================================
solver.ema.enabled                 trainer.model.ema.enable
solver.ema.decay_rate              trainer.model.ema.decay_rate
solver.ema.num_updates             trainer.model.ema.warmup ('ratio' for 0, 'none' for None)
trainer.model.ema.enabled          trainer.model.ema.enable
solver.generator.clip_gradients.*  solver.generator.optimizer.clip_gradients.*
solver.discriminator.clip_gradients.*  solver.discriminator.optimizer.clip_gradients.*
solver.val_per_batch               solver.test_per_batch
================================== ===========================================

The same setting given twice in one source with different values (the alias and our
key) is an error naming both. Across sources the later one wins, as for any key (a
command-line ``solver.val_per_batch 4`` overrides the file's ``test_per_batch``).

The seed's ``num_updates`` starts the decay warmup ``min(decay, (1 + n) / (10 + n))``
at ``n = num_updates`` and counts up; ``0`` is exactly our ``warmup: 'ratio'``
(engine/model/ema.py), ``None`` is no warmup (``warmup: 'none'``): given beside another
``warmup`` in the same source, either is the conflict refused above. Other start counts
have no equivalent and are refused.
"""
import logging
from typing import Any, Dict, List, Tuple

from ...utils.errors import ConfigError

__all__ = ["translate_aliases", "mirror_loss_key", "drop_ignored_shape_keys", "ALIASES"]

_MISSING = object()

# (seed path, our path, key renames inside the section; None for a single value)
ALIASES: List[Tuple[Tuple[str, ...], Tuple[str, ...], Any]] = [
    (("SOLVER", "EMA"), ("TRAINER", "MODEL", "EMA"), {"ENABLED": "ENABLE"}),
    (("TRAINER", "MODEL", "EMA", "ENABLED"), ("TRAINER", "MODEL", "EMA", "ENABLE"), None),
    (("SOLVER", "GENERATOR", "CLIP_GRADIENTS"), ("SOLVER", "GENERATOR", "OPTIMIZER", "CLIP_GRADIENTS"), {}),
    (("SOLVER", "DISCRIMINATOR", "CLIP_GRADIENTS"), ("SOLVER", "DISCRIMINATOR", "OPTIMIZER", "CLIP_GRADIENTS"), {}),
    (("SOLVER", "VAL_PER_BATCH"), ("SOLVER", "TEST_PER_BATCH"), None),
]


def translate_aliases(tree: Dict[str, Any], source: str) -> Dict[str, Any]:
    """``tree`` (upper-case keys) with every seed alias moved to our key (in place)."""
    for alias, ours, renames in ALIASES:
        value = _pop(tree, alias)
        if value is _MISSING:
            continue
        if renames is None:
            _put(tree, alias, ours, value, source)
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {_dotted(alias)} must be a section (a dict), got {value!r}")
        for key, item in value.items():
            seed_key = key
            if alias == ("SOLVER", "EMA") and key == "NUM_UPDATES":
                key, item = _num_updates(item, source)
            _put(tree, alias + (seed_key,), ours + (renames.get(key, key),), item, source)
    return tree


def _num_updates(value, source):
    """Our (key, value) for the seed's num_updates: both values name a warmup, so either
    one given beside a different ``warmup`` is the conflict ``_put`` refuses."""
    if value is None:
        return "WARMUP", "none"
    if value == 0 and not isinstance(value, bool):
        return "WARMUP", "ratio"
    raise ConfigError(
        f"{source}: solver.ema.num_updates {value!r}: only None (no decay warmup) or 0 (the "
        f"warmup min(decay, (1+n)/(10+n)), our trainer.model.ema.warmup 'ratio') are supported"
    )


def _pop(tree: Dict[str, Any], path: Tuple[str, ...]):
    node = tree
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return _MISSING
    return node.pop(path[-1], _MISSING) if isinstance(node, dict) else _MISSING


def _put(tree: Dict[str, Any], alias: Tuple[str, ...], ours: Tuple[str, ...], value, source: str) -> None:
    node = tree
    for key in ours[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {_dotted(ours[:ours.index(key) + 1])} must be a section "
                              f"(a dict), got {child!r}")
        node = child
    given = node.get(ours[-1], _MISSING)
    if given is not _MISSING and given != value:
        raise ConfigError(
            f"{source}: {_dotted(alias)} (the seed's name) and {_dotted(ours)} are the same "
            f"setting, given different values ({value!r} and {given!r}); keep one of them"
        )
    node[ours[-1]] = value


def _dotted(path) -> str:
    return ".".join(path).lower()


def mirror_loss_key(cfg) -> None:
    """The seed's config puts losses under trainer.model.loss while its model reads
    cfg.TRAINER.LOSS: whichever one is set fills the other (on the merged config)."""
    model_loss, loss = cfg.TRAINER.MODEL.LOSS, cfg.TRAINER.LOSS
    if model_loss and not loss:
        cfg.TRAINER.LOSS = model_loss.clone()
    elif loss and not model_loss:
        cfg.TRAINER.MODEL.LOSS = loss.clone()


# keys the seed's LRMultiplierScheduler read only for some shapes and ignored for others;
# its projects carry them over (SDWSeg's WarmupCosineLR with gamma and steps)
IGNORED_SHAPE_KEYS = {"WARMUPCOSINELR": ("GAMMA", "STEPS")}


def drop_ignored_shape_keys(node, path: str = "solver") -> None:
    """Remove, with a warning, what the seed's LR multiplier ignored for a shape (our
    shapes refuse unknown keys): every ``lr_scheduler_param`` under ``solver``."""
    for key in list(node.keys()):
        value = node[key]
        if not isinstance(value, dict):
            continue
        where = f"{path}.{key.lower()}"
        shape = value.get("LR_SCHEDULER_PARAM") if key.upper() == "PARAMS" else None
        if isinstance(shape, dict):
            ignored = IGNORED_SHAPE_KEYS.get(str(shape.get("NAME", "")).upper(), ())
            for name in [k for k in shape if k.upper() in ignored]:
                shape.pop(name)
                logging.getLogger("engine.config").warning(
                    "%s.lr_scheduler_param.%s is ignored by %s (as the seed ignored it)",
                    where, name.lower(), shape.get("NAME"))
        drop_ignored_shape_keys(value, where)
