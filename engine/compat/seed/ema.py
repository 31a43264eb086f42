"""The seed's ``EMA``: an average of a parameter list that the project updates, swaps in
(``store`` / ``copy``) and swaps back (``copy_back``) itself.

Its arithmetic is our EMA's (engine/model/ema.py): the decay of the n-th update is
``ema_decay(decay_rate, n, 'ratio')`` when the seed counts updates (``num_updates``, from
its start value) and ``decay_rate`` when it does not, and the average moves as torch's
``get_ema_multi_avg_fn`` moves it (``lerp_toward``). Only parameters that require grad
are averaged (as in the seed); every method skips the others, so a network with frozen
layers pairs each parameter with its own average (the seed paired them by position and
mis-matched).
"""
import copy
from typing import Iterable, List, Optional

import torch

__all__ = ["EMA"]


def _trainable(parameters: Iterable[torch.Tensor]) -> List[torch.Tensor]:
    return [p for p in parameters if p.requires_grad]


class EMA:
    def __init__(self, parameters: Iterable[torch.nn.Parameter], decay_rate: float,
                 num_updates: Optional[int] = None) -> None:
        if not 0.0 <= decay_rate <= 1.0:
            raise ValueError(f"Decay rate should be in range [0, 1], got {decay_rate}")
        trainable = _trainable(parameters)
        self.decay_rate = decay_rate
        self.num_updates = None if num_updates is None else int(num_updates)
        self.current_decay = decay_rate  # the decay of the latest update
        self.shadow_params = [p.clone().detach() for p in trainable]
        # Until store() the "saved" weights are the live ones: copy_back is then a no-op.
        self.saved_params: Optional[List[torch.Tensor]] = list(trainable)

    def decay(self) -> float:
        """The decay the next update uses (counting it)."""
        from engine.model.ema import ema_decay  # that module re-exports this one

        if self.num_updates is None:
            return ema_decay(self.decay_rate, 0, "none")
        return ema_decay(self.decay_rate, self.num_updates + 1, "ratio")

    def update(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """``shadow += (1 - d) * (param - shadow)``."""
        from engine.model.ema import lerp_toward

        self.current_decay = self.decay()
        if self.num_updates is not None:
            self.num_updates += 1
        params = self._pair(parameters, self.shadow_params, "shadow")
        with torch.no_grad():
            current = [p.detach().to(s.device, s.dtype) for p, s in zip(params, self.shadow_params)]
            if current:
                lerp_toward(self.shadow_params, current, self.current_decay)

    def store(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Keep a copy of the network's weights, for :meth:`copy_back`."""
        self.saved_params = [p.clone().detach() for p in _trainable(parameters)]

    def copy(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Put the averages into the network."""
        self._load(parameters, self.shadow_params, "shadow")

    def copy_back(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Put the stored weights back into the network."""
        if self.saved_params is None:
            raise ValueError("No saved parameters found.")
        self._load(parameters, self.saved_params, "saved")

    def _pair(self, parameters, tensors, what) -> List[torch.Tensor]:
        params = _trainable(parameters)
        if len(params) != len(tensors):
            raise ValueError(f"Number of parameters passed ({len(params)} requiring grad) and number "
                             f"of {what} parameters ({len(tensors)}) does not match.")
        return params

    def _load(self, parameters, tensors, what) -> None:
        with torch.no_grad():
            for param, value in zip(self._pair(parameters, tensors, what), tensors):
                if param is not value:
                    param.copy_(value)

    def to(self, device="cpu", dtype=None) -> None:
        self.shadow_params = [p.to(device=device, dtype=dtype) for p in self.shadow_params]
        if self.saved_params is not None:
            self.saved_params = [p.to(device=device, dtype=dtype) for p in self.saved_params]

    def state_dict(self) -> dict:
        return {
            "decay_rate": self.decay_rate,
            "num_updates": self.num_updates,
            "shadow_params": [p.detach() for p in self.shadow_params],
            "saved_params": None if self.saved_params is None else [p.detach() for p in self.saved_params],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        state = copy.deepcopy(state_dict)
        decay_rate, num_updates = state["decay_rate"], state["num_updates"]
        if not 0.0 <= decay_rate <= 1.0:
            raise ValueError(f"Decay rate should be in range [0, 1], got {decay_rate}")
        if not (num_updates is None or isinstance(num_updates, int)):
            raise ValueError(f"num updates should either be None or int, got {num_updates!r}")
        shadow = self._tensors(state["shadow_params"], "shadow_params")
        saved = state.get("saved_params")
        self.decay_rate, self.num_updates = decay_rate, num_updates
        self.shadow_params = [s.to(old.device) for s, old in zip(shadow, self.shadow_params)]
        # saved weights matter only between store() and copy_back(): a list of another
        # length (the seed's, before any store(), counted frozen parameters) is left out
        if isinstance(saved, list) and len(saved) == len(shadow):
            self.saved_params = [s.to(old.device) for s, old in zip(self._tensors(saved, "saved_params"),
                                                                    self.shadow_params)]

    def _tensors(self, values, key) -> List[torch.Tensor]:
        if not isinstance(values, list) or not all(isinstance(v, torch.Tensor) for v in values):
            raise ValueError(f"EMA state {key} must be a list of tensors")
        if len(values) != len(self.shadow_params):
            raise ValueError(f"EMA state {key} holds {len(values)} tensors; this EMA averages "
                             f"{len(self.shadow_params)} parameters")
        return values
