"""The seed's key locations, accepted as aliases of ours (doc/config.md, "The seed's keys").

The seed (TrainFramework's ``defaults.py``, ``config.md`` and README) keeps some settings
where our tree does not, or spells them otherwise. :data:`ALIASES` is the one table of
them; each alias is rewritten to our key as the config is read, per source (one file,
one command-line override), so the rest of the engine knows one key per setting:

================================== ===========================================
seed                               ours
================================== ===========================================
solver.ema.enabled                 trainer.model.ema.enabled
solver.ema.decay_rate              trainer.model.ema.decay_rate
solver.ema.num_updates             trainer.model.ema.warmup ('ratio' for 0, 'none' for None)
trainer.model.ema.enable           trainer.model.ema.enabled
solver.generator.clip_gradients.*  solver.generator.optimizer.clip_gradients.*
solver.discriminator.clip_gradients.*  solver.discriminator.optimizer.clip_gradients.*
solver.val_per_batch               solver.test_per_batch
trainer.loss.*                     trainer.model.loss.* (also read back at trainer.loss)
================================== ===========================================

The same setting given twice in one source with different values (the alias and our
key) is an error naming both. Across sources the later one wins, as for any key (a
command-line ``solver.val_per_batch 4`` overrides the file's ``test_per_batch``).

Where the seed's code also *reads* the setting at its own location (its model reads
``cfg.TRAINER.LOSS`` while its config writes ``trainer.model.loss``), the row says so and
:func:`fill_seed_locations` copies our key's merged value there, once every source is in.

The seed's ``num_updates`` starts the decay warmup ``min(decay, (1 + n) / (10 + n))``
at ``n = num_updates`` and counts up; ``0`` is exactly our ``warmup: 'ratio'``
(engine/model/ema.py), ``None`` is no warmup (``warmup: 'none'``): given beside another
``warmup`` in the same source, either is the conflict refused above. Other start counts
have no equivalent and are refused.
"""
import logging
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple, Union

from ...utils.errors import ConfigError

__all__ = ["translate_aliases", "fill_seed_locations", "drop_ignored_shape_keys", "ALIASES", "Alias"]

_MISSING = object()


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


# a key of an aliased section -> our key, or a function (value, source) -> (our key, our value)
Renames = Dict[str, Union[str, Callable[[Any, str], Tuple[str, Any]]]]


class Alias(NamedTuple):
    seed: Tuple[str, ...]
    ours: Tuple[str, ...]
    renames: Optional[Renames] = None   # a section: what its keys become; None: one value
    seed_reads: bool = False            # the seed's code reads it at ``seed``: filled back


# in order: a row may produce what a later row renames (solver.ema.enable -> ... -> enabled)
ALIASES = [
    Alias(("SOLVER", "EMA"), ("TRAINER", "MODEL", "EMA"), {"NUM_UPDATES": _num_updates}),
    Alias(("TRAINER", "MODEL", "EMA", "ENABLE"), ("TRAINER", "MODEL", "EMA", "ENABLED")),
    Alias(("SOLVER", "GENERATOR", "CLIP_GRADIENTS"), ("SOLVER", "GENERATOR", "OPTIMIZER", "CLIP_GRADIENTS"), {}),
    Alias(("SOLVER", "DISCRIMINATOR", "CLIP_GRADIENTS"), ("SOLVER", "DISCRIMINATOR", "OPTIMIZER", "CLIP_GRADIENTS"),
          {}),
    Alias(("SOLVER", "VAL_PER_BATCH"), ("SOLVER", "TEST_PER_BATCH")),
    Alias(("TRAINER", "LOSS"), ("TRAINER", "MODEL", "LOSS"), {}, seed_reads=True),
]


def translate_aliases(tree: Dict[str, Any], source: str) -> Dict[str, Any]:
    """``tree`` (upper-case keys) with every seed alias moved to our key (in place)."""
    for alias in ALIASES:
        value = _pop(tree, alias.seed)
        if value is _MISSING:
            continue
        if alias.renames is None:
            _put(tree, alias.seed, alias.ours, value, source)
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {_dotted(alias.seed)} must be a section (a dict), got {value!r}")
        for key, item in value.items():
            ours = alias.renames.get(key, key)
            if callable(ours):
                ours, item = ours(item, source)
            _put(tree, alias.seed + (key,), alias.ours + (ours,), item, source)
    return tree


def fill_seed_locations(cfg) -> None:
    """On the merged config: each location the seed's code reads (``seed_reads``) holds
    a copy of our key's value, so ``cfg.TRAINER.LOSS == cfg.TRAINER.MODEL.LOSS``."""
    for alias in ALIASES:
        if not alias.seed_reads:
            continue
        value = cfg
        for key in alias.ours:
            value = value[key]
        node = cfg
        for key in alias.seed[:-1]:
            node = node[key]
        node[alias.seed[-1]] = value.clone() if hasattr(value, "clone") else value


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
