"""Turn the config's ``transformer=[dict(name=..., ...), ...]`` list into a pipeline.

Each entry names a class registered in :data:`TRANSFORM_REGISTRY`; its other keys become
constructor arguments. Errors name the entry (``...transformer[2]``), because a dataset
config often holds several pipelines and "p must be in [0, 1]" alone does not say which.
"""
from collections.abc import Mapping

from engine.utils.errors import ConfigError
from engine.utils.registry import Registry, build_from_cfg

from .compose import Compose

__all__ = ["TRANSFORM_REGISTRY", "BUILD_TRANSFORMER_REGISTRY", "build_transforms",
           "build_transformer"]

TRANSFORM_REGISTRY = Registry("TRANSFORM")
TRANSFORM_REGISTRY.__doc__ = """
Data augmentation transforms, called as ``t(results, rng) -> results``.
Register your own with ``@TRANSFORM_REGISTRY.register()``.
"""

#: The seed's name for the same registry (``from engine.transforms.build import
#: BUILD_TRANSFORMER_REGISTRY``): one registry, two names.
BUILD_TRANSFORMER_REGISTRY = TRANSFORM_REGISTRY


def build_transforms(cfg_list, where: str = "dataloader.train_data_set.transformer") -> Compose:
    """A :class:`Compose` of the transforms listed in ``cfg_list`` (None/empty: no-op).

    Entries are config dicts (``name`` plus parameters, any key case) or ready-made
    callables, which are used as they are.
    """
    if cfg_list is None:
        return Compose([])
    if isinstance(cfg_list, (Mapping, str)) or not isinstance(cfg_list, (list, tuple)):
        raise ConfigError(
            f"{where}: expected a list of transforms, each a dict with a 'name' key "
            f"(e.g. [dict(name='Resize', target_size=256)]), got "
            f"{type(cfg_list).__name__}: {cfg_list!r}"
        )
    transforms = []
    for i, node in enumerate(cfg_list):
        here = f"{where}[{i}]"
        if callable(node) and not isinstance(node, Mapping):
            transforms.append(node)
            continue
        try:
            transforms.append(build_from_cfg(TRANSFORM_REGISTRY, node, here))
        except ConfigError as e:
            if str(e).startswith(here):
                raise
            raise ConfigError(f"{here}: {e}") from None
    return Compose(transforms)


def build_transformer(name: str, **kwargs):
    """The seed's builder of one transform (``build_transformer('Resize', target_size=256)``),
    with the same checks as a config entry, so a wrong argument is named, not a TypeError."""
    where = f"build_transformer({name!r})"
    return build_from_cfg(TRANSFORM_REGISTRY, dict(kwargs, name=name), where)
