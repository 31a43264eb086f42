"""fvcore's Registry with an error message that helps, plus config-driven construction.

fvcore's ``Registry.get`` raises ``KeyError("No object named ...")``. Users mostly hit it
because the module defining their class was never imported, so the message lists what
*is* registered and says so. :func:`build_from_cfg` turns a config subtree
(``NAME`` + free-form parameters) into constructor kwargs and names the config location
when the parameters do not fit the constructor.
"""
import difflib
import inspect
import logging
from typing import Any, Dict, List, Mapping, Optional

from fvcore.common.registry import Registry as _FvcoreRegistry

from .errors import ConfigError
from .tree import lower_keys

__all__ = ["Registry", "build_from_cfg", "check_cfg", "cfg_to_kwargs", "lookup", "registered_modules"]

_IMPORTED_ANYWAY = {"engine", "torch", "torchvision", "fvcore", "__main__", "__mp_main__", "builtins"}
_REGISTRIES: List["Registry"] = []  # every registry made, so launchers can list what is in them


class Registry(_FvcoreRegistry):
    """A name -> class/function table; ``get`` fails with the registered names listed."""

    def __init__(self, name: str):
        super().__init__(name)
        _REGISTRIES.append(self)

    def _do_register(self, name: str, obj: Any) -> None:
        """A project's class may take the name of one of the engine's built-ins (the
        seed's loss.md registers its own ``SSIMLoss``): it replaces it, with a warning
        naming both. Two of the project's own under one name stay an error."""
        existing = self._obj_map.get(name)
        if existing is not None and existing is not obj and _is_builtin(existing) and not _is_builtin(obj):
            logging.getLogger("engine").warning(
                "%s: %s.%s replaces the engine's built-in %s (%s)", self.variable_name,
                getattr(obj, "__module__", "?"), getattr(obj, "__qualname__", name), name,
                getattr(existing, "__module__", "?"))
            self._obj_map[name] = obj
            return
        super()._do_register(name, obj)

    def get(self, name: str) -> Any:
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{self._name} registry: expected a component name (a non-empty string), "
                f"got {name!r}. Registered: {self.registered_names()}"
            )
        ret = self._obj_map.get(name)
        if ret is None:
            close = close_names(name, self._obj_map.keys())
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(
                f"'{name}' is not registered in the {self._name} registry.{hint} "
                f"Registered: {self.registered_names()}. If '{name}' is your own class, "
                f"make sure the module that defines it (decorated with "
                f"@{self.variable_name}.register()) is imported before training starts, "
                f"e.g. by `from codes import *` in train.py, or name it in the config's "
                f"custom_imports."
            )
        return ret

    @property
    def variable_name(self) -> str:
        """How users spell the registry in code (``BUILD_MODEL_REGISTRY``)."""
        return self._name if self._name.endswith("REGISTRY") else self._name + "_REGISTRY"

    def registered_names(self):
        return sorted(self._obj_map.keys())


def close_names(name: str, names, n: int = 3) -> List[str]:
    """The ``n`` names nearest to ``name``, compared without case: 'adamw' finds 'AdamW'
    first (difflib alone, case-sensitive, offers Adam, RAdam and NAdam before it)."""
    by_lower: Dict[str, List[str]] = {}
    for candidate in sorted(names):
        by_lower.setdefault(candidate.lower(), []).append(candidate)
    same = by_lower.get(name.lower(), [])
    near = [c for key in difflib.get_close_matches(name.lower(), list(by_lower), n=n) for c in by_lower[key]]
    return (same + [c for c in near if c not in same])[:n]


def _is_builtin(obj: Any) -> bool:
    """Registered by the engine itself: its own classes and the torch ones it lists."""
    root = (getattr(obj, "__module__", "") or "").split(".")[0]
    return root in ("engine", "torch", "torchvision")


def cfg_to_kwargs(node: Mapping) -> Dict[str, Any]:
    """A config subtree as plain Python kwargs: keys lower-cased, nested nodes as dicts.

    Config keys are stored upper-case (``cfg.TRAINER.MODEL``); constructor parameters are
    Python names, conventionally snake_case, so they are given back lower-case.
    """
    return lower_keys(node)


def options_with_defaults(node: Optional[Mapping], defaults: Mapping[str, Any], where: str) -> Dict[str, Any]:
    """A small fixed option section (``trainer.model.ema``, ``solver.amp``): ``defaults``
    updated with what ``node`` gives; a key it does not know is an error naming ``where``."""
    options = dict(defaults)
    if node:
        given = cfg_to_kwargs(node)
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {sorted(defaults)}")
        options.update(given)
    return options


def lookup(registry: "Registry", name: Any, where: str) -> Any:
    """``registry.get(name)`` with ``where`` (the config key naming it) in every error."""
    if not name:
        raise ConfigError(
            f"{where} is not set: name the {registry._name} component to use. "
            f"Registered: {registry.registered_names()}"
        )
    try:
        return registry.get(name)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def build_from_cfg(registry: Registry, node: Mapping, where: str, *args, **extra) -> Any:
    """Build ``registry.get(node.NAME)(*args, **node's other keys, **extra)``.

    ``where`` is the dotted config path of ``node`` (e.g. ``dataloader.train_data_set``),
    used in every error message.
    """
    obj, kwargs = check_cfg(registry, node, where, *args, **extra)
    return obj(*args, **kwargs)


def check_cfg(registry: Registry, node: Mapping, where: str, *args, **extra):
    """What :func:`build_from_cfg` checks, without constructing: ``(class, kwargs)`` once
    the name is registered and the parameters fit its signature. The launching process
    calls this to refuse a config before any worker starts (engine/schedule/precheck.py)."""
    if node is None or not isinstance(node, Mapping):
        raise ConfigError(f"{where}: expected a dict with a 'name' key, got {node!r}")
    kwargs = cfg_to_kwargs(node)
    name = kwargs.pop("name", None)
    obj = lookup(registry, name, f"{where}.name")
    kwargs.update(extra)
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return obj, kwargs  # builtins without a signature: let the call itself decide
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        raise ConfigError(
            f"{where}: the parameters given do not fit {name}{sig}: {e}{_did_you_mean(sig, kwargs)}. "
            f"Given: {sorted(kwargs)}"
        ) from None
    return obj, kwargs


def _did_you_mean(sig: inspect.Signature, kwargs: Mapping) -> str:
    """`` (did you mean 'hidden' for 'hiden'?)`` for keywords the signature lacks."""
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return ""
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    hints = []
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
            if close:
                hints.append(f"'{close[0]}' for '{key}'")
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def registered_modules() -> List[str]:
    """The modules that define the registered components outside the engine, sorted.

    Spawned worker processes import these before building anything, so a component a
    project registered in the parent process (a test module, a notebook's imports) is
    registered in the workers too. ``__main__`` is left out: spawn re-imports it."""
    names = set()
    for registry in _REGISTRIES:
        for _, obj in registry:
            module = getattr(obj, "__module__", None)
            if module and module.split(".")[0] not in _IMPORTED_ANYWAY:
                names.add(module)
    return sorted(names)
