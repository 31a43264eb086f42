"""The bundle's trained networks by registered name, and their parallel wrappers.

Split from base_model.py: which networks a bundle trains, and how a DDP/DataParallel
wrapper stands in for one (the attribute ``self.g_model`` holds the wrapper the user's
``run_step`` calls, while checkpoints, EMA and evaluation use the network itself, so a
checkpoint is the same in every mode). Sharded networks (trainer.fsdp) have no wrapper:
they are sharded in place (fsdp.py), and :meth:`NetworkRegistry.no_sync` pauses their
gradient reduction instead.
"""
from collections import OrderedDict
from contextlib import ExitStack, contextmanager
from typing import Callable, List, Optional, Sequence

import torch

__all__ = ["NetworkRegistry"]


class NetworkRegistry:
    """BaseModel's network methods; they use ``_networks`` (unwrapped, by name),
    ``_wrapped`` (wrappers, by name), ``_states`` and ``sharding`` set by BaseModel."""

    def unwrapped(self, name: str) -> torch.nn.Module:
        """The network registered as ``name``, without its DDP/DP wrapper."""
        return self._networks[name]

    def wrap_networks(self, wrap: Callable[[str, torch.nn.Module], torch.nn.Module]) -> None:
        """Replace every registered network's attribute by ``wrap(name, network)``
        (DistributedDataParallel, DataParallel). The wrapper's ``.module`` becomes the
        unwrapped network (it may be a new object, e.g. after SyncBatchNorm conversion)."""
        for name, network in list(self._networks.items()):
            wrapper = wrap(name, network)
            if wrapper is network:
                continue
            inner = getattr(wrapper, "module", wrapper)
            self._networks[name] = self._states[name] = inner
            self._wrapped[name] = wrapper
            self._set_network_attribute(name, wrapper)

    def _set_network_attribute(self, name: str, value: torch.nn.Module) -> None:
        attr, _, key = name.partition(".")
        if key:
            getattr(self, attr)[key] = value
        else:
            setattr(self, attr, value)

    @contextmanager
    def unwrapped_networks(self, keep: Sequence[str] = ()):
        """Inside the block every network attribute but those named in ``keep`` holds the
        unwrapped network."""
        names = [name for name in self._wrapped if name not in keep]
        for name in names:
            self._set_network_attribute(name, self._networks[name])
        try:
            yield
        finally:
            for name in names:
                self._set_network_attribute(name, self._wrapped[name])

    def no_sync(self, names: Optional[Sequence[str]] = None):
        """Skip DDP's gradient all-reduce (micro-batches before the last of a step) of the
        networks ``names`` (default: all)."""
        stack = ExitStack()
        for name, wrapper in self._wrapped.items():
            if (names is None or name in names) and hasattr(wrapper, "no_sync"):
                stack.enter_context(wrapper.no_sync())
        if self.sharding is not None:
            for name, network in self._networks.items():
                if (names is None or name in names) and hasattr(network, "set_requires_gradient_sync"):
                    network.set_requires_gradient_sync(False)
                    stack.callback(network.set_requires_gradient_sync, True)
        return stack

    @property
    def networks(self) -> List[torch.nn.Module]:
        """The trained networks, unwrapped (what train()/eval() switch)."""
        return list(self._networks.values())

    def named_networks(self) -> "OrderedDict[str, torch.nn.Module]":
        """The trained networks, unwrapped, by registered name."""
        return OrderedDict(self._networks)

    def wrapped_networks(self) -> "OrderedDict[str, torch.nn.Module]":
        """The DDP/DataParallel wrappers :meth:`wrap_networks` made, by registered name
        (empty when nothing is wrapped)."""
        return OrderedDict(self._wrapped)
