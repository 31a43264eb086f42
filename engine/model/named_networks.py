"""Networks by name: ``generator=dict(name='torchvision.resnet18', num_classes=10)``.

Every torchvision model builder (``torchvision.models.list_models()``; also spelled with
its sub-package, ``torchvision.segmentation.fcn_resnet50``) and, when timm is installed,
every timm model (``timm.<name>``) can be named in a config without registering anything:
the name's other keys are the builder's keyword arguments, as for a registered network.

Weights are never downloaded unless the config asks. torchvision's builders default to
no weights, but several default their *backbone* to ImageNet weights
(``weights_backbone`` of the segmentation and detection builders), which would download
them on the first run and train from different starting points on a machine that has
them cached and one that has not. So every ``weights*`` argument the config leaves out
is passed as None; a config that gives ``weights=`` (or the legacy ``pretrained=``),
other than None/False, is asking for pretrained weights, and the builder is then called
as written, with torchvision's own defaults. timm's ``pretrained`` defaults to False in the same way.

An unknown name is a ConfigError with the nearest known names, as for a registered one.
"""
import difflib
import functools
import importlib
import inspect
from typing import Callable, List

from ..utils.errors import ConfigError
from ..utils.registry import Registry

__all__ = ["NetworkRegistry", "named_network", "PREFIXES"]

PREFIXES = ("torchvision.", "timm.")
#: torchvision.models sub-packages a name may be qualified with
_SUBPACKAGES = ("segmentation", "detection", "video", "optical_flow", "quantization")


class NetworkRegistry(Registry):
    """The network registry: registered classes first, then ``torchvision.<name>`` and
    ``timm.<name>`` builders resolved on demand (never added to the table, so
    ``registered_names()`` lists the project's and the engine's own)."""

    def get(self, name):
        if isinstance(name, str) and name not in self._obj_map and name.startswith(PREFIXES):
            return named_network(name)
        try:
            return super().get(name)
        except ConfigError as e:
            hint = _torchvision_hint(name)
            raise ConfigError(str(e).replace(" registry.", f" registry.{hint}", 1) if hint else str(e)) from None


def named_network(name: str) -> Callable:
    """The builder ``name`` stands for, wrapped so that weights are only loaded when asked."""
    library, _, model = name.partition(".")
    if library == "torchvision":
        return _torchvision_builder(name, model)
    return _timm_builder(name, model)


def _close(name: str, known: List[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _torchvision_names() -> List[str]:
    from torchvision import models

    names = [f"torchvision.{n}" for n in models.list_models()]
    for sub in _SUBPACKAGES:
        module = getattr(models, sub, None)
        if module is not None:
            names += [f"torchvision.{sub}.{n}" for n in models.list_models(module=module)]
    return sorted(names)


def _torchvision_builder(name: str, model: str) -> Callable:
    from torchvision import models

    qualified = model[len("models."):] if model.startswith("models.") else model
    sub, _, short = qualified.rpartition(".")
    module = getattr(models, sub, None) if sub in _SUBPACKAGES else None
    known = models.list_models(module=module) if module is not None else models.list_models() if not sub else []
    if short not in known:
        raise ConfigError(f"'{name}' is not a torchvision model (torchvision.models.list_models() names "
                          f"them).{_close(name, _torchvision_names())}")
    builder = models.get_model_builder(short)
    off = {p: None for p in inspect.signature(builder).parameters if p == "weights" or p.startswith("weights_")}
    return _weights_only_when_asked(name, builder, off, ("weights", "pretrained"))


def _timm_builder(name: str, model: str) -> Callable:
    try:  # optional (setup.py's extra "timm"): imported only for a timm.<name>
        timm = importlib.import_module("timm")
    except ImportError:
        raise ConfigError(f"'{name}' names a timm model, but timm is not installed (pip install timm)") from None
    if not timm.is_model(model):
        raise ConfigError(f"'{name}' is not a timm model (timm.list_models() names them)."
                          f"{_close(model, timm.list_models())}".replace("Did you mean '", "Did you mean 'timm."))
    return _weights_only_when_asked(name, functools.partial(timm.create_model, model), {"pretrained": False},
                                    ("pretrained",))


def _weights_only_when_asked(name: str, builder: Callable, off: dict, asking: tuple) -> Callable:
    """``builder`` called with ``off`` (no weights) unless the config gives one of
    ``asking``; a TypeError/ValueError of the call (an argument the model does not take,
    num_classes beside pretrained weights) becomes a ConfigError naming the call."""

    def build(*args, **kwargs):
        asked = any(kwargs.get(k) not in (None, False) for k in asking)  # weights=None: still none
        call = kwargs if asked else {**off, **kwargs}
        try:
            return builder(*args, **call)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}): {e}") from None

    build.__name__ = build.__qualname__ = name
    build.__module__ = getattr(builder, "__module__", None) or "timm"
    build.__doc__ = getattr(builder, "__doc__", None)
    try:  # what check_cfg binds the config's keys against
        build.__signature__ = inspect.signature(builder)
    except (TypeError, ValueError):
        pass
    return build


def _torchvision_hint(name) -> str:
    """A plain name that is a torchvision model (``'resnet18'``): say how to spell it."""
    if not isinstance(name, str) or "." in name:
        return ""
    try:
        from torchvision import models

        return f" Did you mean 'torchvision.{name}' (torchvision's)?" if name in models.list_models() else ""
    except Exception:  # noqa: BLE001 - a hint only
        return ""

