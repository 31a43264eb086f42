"""The seed's list form of ``LossKeyCompose`` inputs: per loss key, a list of inputs.

``loss_func(dict(loss1=[input_a, input_b], loss2=[input_c]))``, each input a dict (read by
the entries' ``input_name``) or a tuple/list (passed positionally). How the inputs of a
key meet its losses (an entry, or a tuple group of entries, counts as one loss):

- as many inputs as losses: one-to-one, ``loss[i](input[i])``;
- one input: shared by every loss of the key;
- one loss: applied to every input, the results summed;
- any other pair of counts is ambiguous and an error naming the key and both counts.

Kept apart from :mod:`engine.loss.pipe` because telling this form from the engine's own
(one input per key, or one input for every key) is the subtle part.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..utils.errors import ConfigError

__all__ = ["is_input_list", "seed_form", "pair"]


def is_input_list(value: Any) -> bool:
    """A non-empty list/tuple whose items are all inputs (dicts, tuples or lists).

    A tuple of tensors ``(pred, target)`` is one input, not a list of inputs; a list of
    dicts or of tuples is a list of inputs."""
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(item, (Mapping, list, tuple)) for item in value))


def seed_form(inputs: Any, keys: Sequence[str], where: str) -> Optional[Dict[str, Any]]:
    """``{key: list of inputs}`` (keys lower-case) when ``inputs`` is the seed's list form,
    else None (one of the engine's own forms).

    The list form is a dict where at least one loss key holds a list of inputs; then
    every loss key must be there, nothing else may be, and every value must be a list
    of inputs: mixing forms in one call is an error rather than a guess."""
    if not isinstance(inputs, Mapping) or not inputs:
        return None
    lowered = {str(k).lower(): v for k, v in inputs.items()}
    empty = [k for k in keys if k in lowered and isinstance(lowered[k], (list, tuple))
             and len(lowered[k]) == 0]
    if empty:
        raise ConfigError(f"{where}.{empty[0]}: the list of inputs is empty; give at least one "
                          f"input (a dict read by input_name, or a tuple).")
    listed = [k for k in keys if k in lowered and is_input_list(lowered[k])]
    if not listed:
        return None
    missing = [k for k in keys if k not in lowered]
    unknown = [str(k) for k in inputs if str(k).lower() not in keys]
    if missing or unknown:
        raise ConfigError(
            f"{where}: the inputs are a list per loss key (the seed's form) for {listed}, so "
            f"every loss key needs one and nothing else may be given; "
            + (f"missing: {missing}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"not a loss key: {unknown}" if unknown else "")
            + f". The loss keys are {list(keys)}."
        )
    single = [k for k in keys if k not in listed]
    if single:
        raise ConfigError(
            f"{where}: {listed} got a list of inputs (the seed's form, returns the total) but "
            f"{single} got one input (the engine's form, returns a dict per key); give every "
            f"key a list [dict(...) or (tensor, ...), ...] in one call, or every key one input."
        )
    return lowered


def pair(key: str, inputs: Sequence[Any], losses: Sequence[Any], where: str) -> List[Tuple[Any, Any]]:
    """``(loss, input)`` pairs of one key by the three rules (module docstring)."""
    n, m = len(inputs), len(losses)
    if n == m:
        return list(zip(losses, inputs))
    if n == 1:
        return [(loss, inputs[0]) for loss in losses]
    if m == 1:
        return [(losses[0], item) for item in inputs]
    raise ConfigError(
        f"{where}.{key}: {n} inputs for {m} losses fit no pairing rule: give {m} inputs (one "
        f"per loss, in order), 1 input (shared by every loss), or configure 1 loss (or one "
        f"tuple group of losses) to apply to each of the {n} inputs."
    )
