"""The trainer's one registry of checkpointed state (engine/trainer/state_registry.py)."""
import numpy as np
import pytest
import torch

from engine.trainer.state_registry import StateRegistry
from engine.utils.errors import ConfigError, EngineError


class Box:
    def __init__(self, value=None):
        self.value, self.loads = value, 0

    def state_dict(self):
        return self.value

    def load_state_dict(self, state):
        self.value, self.loads = state, self.loads + 1


def test_states_nest_under_their_namespace_and_come_back_in_registration_order():
    order = []

    class Ordered(Box):
        def load_state_dict(self, state):
            order.append(state)
            super().load_state_dict(state)

    saved = StateRegistry()
    saved.register("model", Ordered({"w": torch.ones(2)}))
    saved.register("trainer.guard", Ordered({"skipped": 2}))
    saved.register("trainer.Hook", Ordered({"n": np.int64(5)}))
    payload = saved.state_dict()
    assert set(payload) == {"model", "trainer"} and payload["trainer"] == {"guard": {"skipped": 2}, "Hook": {"n": 5}}
    assert type(payload["trainer"]["Hook"]["n"]) is int  # NumPy stored as what torch.load(weights_only) reads
    saved.load_state_dict({**payload, "iteration": 7, "config": "x"})
    assert [next(iter(s)) for s in order] == ["w", "skipped", "n"]


def test_a_state_loaded_before_its_object_registers_waits_for_it_and_old_keys_still_resume():
    registry = StateRegistry()
    registry.load_state_dict({"trainer": {"Tracker": {"best": 0.5}, "OldName": {"k": 1}}, "extra": {"a": 1}})
    tracker, renamed, extra = Box(), Box(), Box()
    registry.register("trainer.Tracker", tracker)
    registry.register("trainer.NewName", renamed, legacy_keys=("OldName",))
    registry.register("extra", extra)
    assert (tracker.value, renamed.value, extra.value) == ({"best": 0.5}, {"k": 1}, {"a": 1})


def test_a_state_the_checkpoint_lacks_loads_missing_or_is_left_alone():
    registry = StateRegistry()
    reset, kept = Box({"n": 3}), Box({"n": 3})
    registry.register("trainer.reset", reset, missing={})
    registry.register("trainer.kept", kept)
    assert reset.loads == kept.loads == 0  # registering in a fresh run loads nothing
    registry.load_state_dict({"iteration": 1})
    assert reset.value == {} and kept.value == {"n": 3} and kept.loads == 0


def test_two_objects_under_one_key_and_keys_outside_a_namespace_are_refused():
    registry = StateRegistry()
    registry.register("trainer.Hook", Box(), what="hook A")
    with pytest.raises(ConfigError, match=r"two objects keep their checkpoint state under 'trainer.Hook' "
                                          r"\(hook A and hook B\)"):
        registry.register("trainer.Hook", Box(), what="hook B")
    with pytest.raises(ConfigError, match="a dotted key names an entry"):
        registry.register("mine.part", Box())
    with pytest.raises(ConfigError, match="is a namespace"):
        registry.register("trainer", Box())


def test_a_state_torch_cannot_read_back_is_refused_naming_its_key():
    registry = StateRegistry()
    registry.register("trainer.Window", Box({"window": slice(0, 4)}), what="hook Window")
    with pytest.raises(EngineError, match=r"hook Window's state_dict\(\) \(checkpoint key 'trainer.Window'\) "
                                          r"holds a builtins.slice"):
        registry.state_dict()
