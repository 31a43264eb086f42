"""A method of a network, called by the model, runs as one call of the network.

Seed projects train by calling a method of their network, ``self.g_model.forward_train(img,
gt)``, not the network itself. Everything the engine puts around a network's call would
miss such a call: DDP prepares its gradient all-reduce in its forward, FSDP gathers the
weights in hooks around ``__call__``, and ``nn.Module.compile`` (``trainer.compile``)
compiles ``__call__``. So the method is run as that one call's forward:

* :func:`install_dispatch` gives the network an instance-level ``forward`` that runs the
  method named for the current call, else the class's ``forward``. A ``self.forward(x)``
  or ``self(x)`` inside the method still reaches the class's ``forward``.
* :func:`call_as_forward` names the method and calls the network (or its DDP wrapper).
* :func:`route_methods` (FSDP, compile) makes each public method of the network's own
  classes do that when it is called from outside a call of the network; from inside one
  (a helper of ``forward``) it runs as it is.

Everything lives on the instance, so ``copy.deepcopy`` of a routed network routes the
copy. ``DataParallel``'s replicas copy the instance's attributes and would run the
original network: the two are not combined (engine/model/parallel.py).
"""
import types
from typing import List, Optional

from torch import nn

__all__ = ["install_dispatch", "call_as_forward", "route_methods", "is_network_method"]

_STATE = "_engine_method_calls"


class _CallState:
    """The method named for the coming call, and how many calls of the network are open."""

    def __init__(self):
        self.pending: Optional[str] = None
        self.depth = 0
        self.routed: List[str] = []


def _dispatching_forward(self, *args, **kwargs):
    state = getattr(self, _STATE)
    name, state.pending = state.pending, None
    state.depth += 1
    try:
        return getattr(type(self), name or "forward")(self, *args, **kwargs)
    finally:
        state.depth -= 1


def install_dispatch(network: nn.Module) -> _CallState:
    """The network's call state, the dispatching ``forward`` installed on first use."""
    state = network.__dict__.get(_STATE)
    if state is None:
        state = network.__dict__[_STATE] = _CallState()
        network.forward = types.MethodType(_dispatching_forward, network)
    return state


def call_as_forward(caller, network: nn.Module, name: str, *args, **kwargs):
    """``caller(*args, **kwargs)`` (the network, or a wrapper whose forward calls it) with
    the network's method ``name`` as this call's forward."""
    state = install_dispatch(network)
    state.pending = name
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

    def __call__(self, *args, **kwargs):
        network = self.network
        if network.__dict__[_STATE].depth:
            return getattr(type(network), self.name)(network, *args, **kwargs)
        return call_as_forward(network, network, self.name, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self.network).__name__}.{self.name} routed through the network's call>"


def route_methods(network: nn.Module) -> List[str]:
    """Route each public method the network's own classes define through its call, but
    not ``forward`` nor an override of ``nn.Module``'s own methods (a ``train(mode)`` that
    freezes BatchNorm, ``init_weights`` is the user's): returns their names. Routing
    twice changes nothing."""
    state = install_dispatch(network)
    if state.routed:
        return state.routed
    for cls in type(network).__mro__:
        if cls in (nn.Module, object) or cls.__module__.startswith("torch."):
            continue
        for name, value in vars(cls).items():
            if (name.startswith("_") or hasattr(nn.Module, name) or name in state.routed
                    or not isinstance(value, types.FunctionType)):
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
