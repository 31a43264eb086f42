"""A method of a network, called by the model, runs as one call of the network.

Seed projects train by calling a method of their network, ``self.g_model.forward_train(img,
gt)``, not the network itself. Everything the engine puts around a network's call would
miss such a call: DDP prepares its gradient all-reduce in its forward, FSDP gathers the
weights in hooks around ``__call__``, and ``nn.Module.compile`` (``trainer.compile``)
compiles ``__call__``. So the method is run as that one call's forward:

* :func:`install_dispatch` gives the network an instance-level ``forward`` that runs the
  method named for the current call, else the class's ``forward`` (or a ``forward`` the
  user had set on the instance). A ``self.forward(x)`` or ``self(x)`` inside the method
  still reaches it. One copy of that function per network class: torch.compile keeps
  compiled graphs per code object.
* :func:`call_as_forward` names the method and calls the network (or its DDP wrapper).
* :func:`route_methods` (FSDP, compile) makes each public method of the network's own
  classes do that when it is called from outside a call of the network; from inside one
  (a helper of ``forward``) it runs as it is.

Everything lives on the instance, so ``copy.deepcopy`` of a routed network routes the
copy, and an unpickled copy routes again on its first routed call. ``DataParallel``'s
replicas copy the instance's attributes and would run the original network: the two are
not combined (engine/model/parallel.py).
"""
import inspect
import types
import weakref
from typing import List

from torch import nn

__all__ = ["install_dispatch", "call_as_forward", "route_methods", "is_network_method"]

_STATE = "_engine_method_calls"


class _CallState:
    """What the coming call runs (``(callable, whether it takes the network first)``: a
    function of the class, or a callable set on the instance), how many calls of the
    network are open, and the instance's own ``forward`` (one the user set on the
    instance before the dispatch was installed)."""

    def __init__(self):
        self.pending = None
        self.depth = 0
        self.routed: List[str] = []
        self.own_forward = None


def _dispatching_forward(self, *args, **kwargs):
    state = getattr(self, _STATE)
    target, state.pending = state.pending, None
    if target is None:
        target = (state.own_forward, False) if state.own_forward is not None else (type(self).forward, True)
    function, takes_self = target
    state.depth += 1
    try:
        return function(self, *args, **kwargs) if takes_self else function(*args, **kwargs)
    finally:
        state.depth -= 1


#: One copy of the dispatching function per network class: torch.compile keeps its
#: compiled graphs per code object (8 by default), and the traced frame is this
#: function's, so one shared copy would hold every network's graphs.
_DISPATCHERS: "weakref.WeakKeyDictionary[type, types.FunctionType]" = weakref.WeakKeyDictionary()


def _dispatcher_for(cls: type) -> types.FunctionType:
    fn = _DISPATCHERS.get(cls)
    if fn is None:
        code = _dispatching_forward.__code__.replace(co_name="forward", co_qualname=f"{cls.__qualname__}.forward")
        fn = types.FunctionType(code, _dispatching_forward.__globals__, "forward")
        fn.__doc__, fn.engine_dispatch = cls.forward.__doc__, True
        try:  # what the class's forward takes, not (*args, **kwargs)
            fn.__signature__ = inspect.signature(cls.forward)
        except (TypeError, ValueError):
            pass
        _DISPATCHERS[cls] = fn
    return fn


def _is_dispatcher(value) -> bool:
    return isinstance(value, types.MethodType) and getattr(value.__func__, "engine_dispatch", False)


def install_dispatch(network: nn.Module) -> _CallState:
    """The network's call state, the dispatching ``forward`` installed on first use (and
    again on a copy unpickled without it: a bound method pickles as its name)."""
    state = network.__dict__.get(_STATE)
    if state is None:
        state = network.__dict__[_STATE] = _CallState()
    current = network.__dict__.get("forward")
    if not (_is_dispatcher(current) and current.__self__ is network):
        if current is not None and not _is_dispatcher(current):
            state.own_forward = current  # the user's, kept: a plain call runs it
        network.forward = types.MethodType(_dispatcher_for(type(network)), network)
    return state


def _target(network: nn.Module, name: str) -> tuple:
    """What ``name`` runs: a callable the user set on the instance, else the class's function."""
    own = network.__dict__.get(name)
    if own is not None and callable(own) and not isinstance(own, _RoutedMethod):
        return own, False
    return getattr(type(network), name), True


def call_as_forward(caller, network: nn.Module, name: str, *args, **kwargs):
    """``caller(*args, **kwargs)`` (the network, or a wrapper whose forward calls it) with
    the network's method ``name`` as this call's forward."""
    state = install_dispatch(network)
    state.pending = _target(network, name)
    try:
        return caller(*args, **kwargs)
    finally:
        state.pending = None


class _RoutedMethod:
    """The network's method ``name``: through the network's call from outside one, as it
    is from inside one."""

    def __init__(self, network: nn.Module, name: str):
        self.network, self.name = network, name
        method = getattr(type(network), name)
        self.__doc__, self.__wrapped__ = method.__doc__, method
        self.__signature__ = inspect.signature(types.MethodType(method, network))

    def __call__(self, *args, **kwargs):
        network = self.network
        state = install_dispatch(network)
        if state.depth:
            return getattr(type(network), self.name)(network, *args, **kwargs)
        return call_as_forward(network, network, self.name, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self.network).__name__}.{self.name} routed through the network's call>"


def route_methods(network: nn.Module) -> List[str]:
    """Route each public method the network's own classes define through its call, but
    not ``forward`` nor an override of ``nn.Module``'s own methods (a ``train(mode)`` that
    freezes BatchNorm is the user's), nor a name the class resolves to anything but a
    plain function (a staticmethod overriding a method): returns their names. Routing
    twice changes nothing."""
    state = install_dispatch(network)
    if state.routed:
        return state.routed
    cls = type(network)
    for owner in cls.__mro__:
        if owner in (nn.Module, object) or owner.__module__.startswith("torch."):
            continue
        for name in vars(owner):
            if (name.startswith("_") or hasattr(nn.Module, name) or name in state.routed
                    or not isinstance(inspect.getattr_static(cls, name), types.FunctionType)):
                continue
            state.routed.append(name)
            network.__dict__[name] = _RoutedMethod(network, name)
    return state.routed


def is_network_method(network: nn.Module, name: str, value) -> bool:
    """Whether ``value`` (``getattr(network, name)``) is one of the network's methods other
    than ``forward``: a bound method of it or a routed one."""
    if name == "forward":
        return False
    if isinstance(value, _RoutedMethod):
        return value.network is network
    return isinstance(value, types.MethodType) and value.__self__ is network
