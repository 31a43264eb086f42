"""One registry of everything a checkpoint saves: each object under its own key.

fvcore's Checkpointer keeps one dict of "checkpointables"; this is the trainer's. The
bundle (``model``: networks, solvers, EMA...), the RNG state (``rng``), the data position
(``data``), the non-finite guard (``trainer.nonfinite``), a stop a hook asked for
(``trainer.stopped``) and every hook with a state (``trainer.<its state_key>``) register
here; :meth:`StateRegistry.state_dict` is the checkpoint (with the iteration, epoch,
config and engine version the trainer adds) and :meth:`StateRegistry.load_state_dict`
hands each object its part back, in registration order. A key ``a.b`` is the entry
``b`` of the checkpoint's dict ``a`` (``payload['trainer']['nonfinite']``), so the file
layout is the one every earlier engine wrote and the tools read.

A state whose object is not registered yet (a hook added after ``--resume`` loaded the
checkpoint) waits here and is handed over when it registers. A hook whose key changed
(``legacy_keys``) still finds a state an earlier engine saved under the old key.

    class Counter(HookBase):          # a user hook with state: saved and resumed exactly
        def __init__(self):
            self.seen = 0
        def after_step(self):
            self.seen += 1
        def state_dict(self):
            return {"seen": self.seen}
        def load_state_dict(self, state):
            self.seen = state.get("seen", 0)
"""
from collections import OrderedDict
from typing import Any, Dict, Iterable, Optional, Protocol

from ..checkpoint.plain import loadable
from ..utils.errors import ConfigError

__all__ = ["StateRegistry", "Saveable", "HEADER_KEYS"]

#: what the trainer writes beside the registry's states: facts of the save, not states
HEADER_KEYS = ("iteration", "epoch", "config", "engine_version")


class Saveable(Protocol):
    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


class _Entry:
    def __init__(self, obj: Saveable, legacy_keys: Iterable[str], missing: Any, plain: bool, what: str):
        self.obj, self.legacy_keys, self.missing, self.plain, self.what = obj, tuple(legacy_keys), missing, plain, what


class StateRegistry:
    """``namespaces``: the checkpoint's dicts whose entries are states of their own
    (``trainer``: the guard, the stop, each hook); any other key is one state."""

    def __init__(self, namespaces: Iterable[str] = ("trainer",)):
        self.namespaces = tuple(namespaces)
        self._entries: "OrderedDict[str, _Entry]" = OrderedDict()
        self._waiting: Dict[str, Any] = {}  # loaded states of objects not registered yet

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def keys(self):
        return list(self._entries)

    def get(self, key: str) -> Saveable:
        return self._entries[key].obj

    def register(self, key: str, obj: Saveable, *, legacy_keys: Iterable[str] = (), missing: Any = None,
                 plain: bool = True, what: str = "") -> None:
        """Save ``obj``'s state under ``key``. ``missing``: what it loads when a checkpoint
        has nothing for it (None: it is left alone). ``plain``: its state must be what
        ``torch.load(weights_only=True)`` reads back (NumPy values converted; anything
        else refused when saving, naming ``what``)."""
        outer, dot, _ = key.partition(".")
        if dot and outer not in self.namespaces:
            raise ConfigError(f"checkpoint key {key!r}: a dotted key names an entry of one of {list(self.namespaces)}")
        if not dot and key in self.namespaces:
            raise ConfigError(f"checkpoint key {key!r} is a namespace: register '{key}.<name>'")
        if key in self._entries:
            raise ConfigError(f"two objects keep their checkpoint state under {key!r} "
                              f"({self._entries[key].what or type(self._entries[key].obj).__name__} and "
                              f"{what or type(obj).__name__}); give one another key")
        entry = _Entry(obj, legacy_keys, missing, plain, what or type(obj).__name__)
        self._entries[key] = entry
        state = self._take_waiting(key, entry)
        if state is not None:  # registered after a checkpoint was loaded
            obj.load_state_dict(state)

    def unregister(self, key: str) -> None:
        self._entries.pop(key, None)

    def state_dict(self) -> Dict[str, Any]:
        """The checkpoint's states, nested by the first dot of each key; empty ones left out."""
        out: Dict[str, Any] = {}
        for key, entry in self._entries.items():
            state = entry.obj.state_dict()
            if entry.plain:
                state = loadable(state, f"{entry.what}'s state_dict() (checkpoint key {key!r})")
            if state is None or (isinstance(state, dict) and not state):
                continue
            outer, _, inner = key.partition(".")
            if inner:
                out.setdefault(outer, {})[inner] = state
            else:
                out[key] = state
        return out

    def load_state_dict(self, payload: Dict[str, Any]) -> None:
        """Hand every registered object its state from ``payload`` (a checkpoint), in
        registration order; states of objects not registered yet wait for them."""
        self._waiting = {}
        for outer, value in payload.items():
            if outer in HEADER_KEYS:
                continue
            if outer in self.namespaces and isinstance(value, dict):
                for inner, state in value.items():
                    self._waiting[f"{outer}.{inner}"] = state
            else:
                self._waiting[outer] = value
        for key, entry in self._entries.items():
            state = self._take_waiting(key, entry)
            if state is None:
                state = entry.missing
            if state is not None:
                entry.obj.load_state_dict(state)

    def _take_waiting(self, key: str, entry: _Entry) -> Optional[Any]:
        outer = key.partition(".")[0] + "." if "." in key else ""
        for name in (key, *(outer + legacy for legacy in entry.legacy_keys)):
            if name in self._waiting:
                return self._waiting.pop(name)
        return None
