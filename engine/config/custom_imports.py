"""``custom_imports``: the modules that register a project's components, so that any tool
finds the project from a run's config.yaml alone.

A component named in a config (``trainer.model.name='AccModel'``) is only known once the
module that registers it has been imported: train.py does it with ``from codes import
*``; the tools (engine-test, engine-export, engine-browse-dataset, the Predictor) cannot
guess a project's package name. Two keys close the gap (MMEngine's ``custom_imports``):

- ``custom_imports``: module names imported when a config is loaded (:func:`load_cfg
  <engine.config.loader.load_cfg>`), before anything is built; settable by hand in a
  config (``custom_imports = ['myproj.models']``, ``engine-train`` needs it);
- ``project_root``: the folder those modules import from, put first on ``sys.path``
  ('' = the current folder, as ``python train.py`` does).

A training run fills both (:func:`record_custom_imports`): the modules that define the
classes its config names (dataset, network, model, trainer, evaluator, loss, transform,
hook, ... : every ``name``/``type`` any registry knows), the engine's own and torch's
left out, and the folder the first of them imports from. They go into config.yaml, which
every tool then loads as it is.
"""
import importlib
import os
import sys
from typing import Iterator, List, Sequence

from ..utils.errors import ConfigError

__all__ = ["import_custom_modules", "record_custom_imports", "named_modules"]

_NAME_KEYS = ("NAME", "TYPE")
_NOT_PROJECT = {"engine", "torch", "torchvision", "timm", "fvcore", "builtins", "__main__", "__mp_main__"}


def import_custom_modules(modules: Sequence[str], project_root: str = "", source: str = "") -> None:
    """Import ``modules`` with ``project_root`` (or the current folder) first on sys.path.
    A module that does not import is one ConfigError naming it and why."""
    if not modules:
        return
    root = os.path.abspath(project_root or os.getcwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    for name in modules:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{source}: custom_imports must be module names, got {name!r}")
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any failure of the user's module is one line
            raise ConfigError(f"{source}: custom_imports: cannot import {name!r} (from {root}): "
                              f"{type(e).__name__}: {e}") from None


def _names(node) -> Iterator[str]:
    """Every ``name``/``type`` string of a config tree (nodes, lists of nodes)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).upper() in _NAME_KEYS and isinstance(value, str) and value:
                yield value
            else:
                yield from _names(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _names(value)


def named_modules(cfg) -> List[str]:
    """The modules, outside the engine and torch, that define what ``cfg`` names in any
    registry, in the order the config names them; only modules imported from a file."""
    from ..utils.registry import _REGISTRIES

    modules: List[str] = []
    for name in _names(cfg):
        for registry in _REGISTRIES:
            obj = registry._obj_map.get(name)
            module = getattr(obj, "__module__", None) if obj is not None else None
            if module and module.split(".")[0] not in _NOT_PROJECT and module not in modules \
                    and _importable(module):
                modules.append(module)
    return modules


def _importable(name: str) -> bool:
    """A module imported from a file: not code run as a script or in a notebook
    (``__main__``), nor exec'd under a made-up name, which nothing could import again."""
    return bool(getattr(sys.modules.get(name), "__file__", None))


def module_root(name: str) -> str:
    """The folder ``name`` imports from (``/p`` for ``/p/pkg/mod.py`` as ``pkg.mod``)."""
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if not path:
        return ""
    folder = os.path.dirname(os.path.abspath(path))
    depth = name.count(".") + (os.path.basename(path).startswith("__init__.") and 1 or 0)
    for _ in range(depth):
        folder = os.path.dirname(folder)
    return folder


def record_custom_imports(cfg):
    """``cfg`` with ``custom_imports`` = the config's own list + :func:`named_modules`, and
    ``project_root`` = the folder the first of them imports from (unless given)."""
    given = list(cfg.CUSTOM_IMPORTS or [])
    found = [m for m in named_modules(cfg) if m not in given]
    if not found:
        return cfg
    root = cfg.PROJECT_ROOT or next((r for r in map(module_root, given + found) if r), "")
    cfg = cfg.clone()
    cfg.defrost()
    cfg.CUSTOM_IMPORTS = given + found
    cfg.PROJECT_ROOT = root
    cfg.freeze()
    return cfg
