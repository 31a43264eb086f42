"""Weighted sums of configured losses: a single sum, or one sum per named key.

``LossKeyCompose`` called in the engine's form returns a dict so a model's ``run_step``
can hand it straight to the trainer, which logs each key separately and backpropagates
their sum. Called in the seed's list form (:mod:`engine.loss.pairing`) it returns the
total, as the seed does, and keeps each key's value in :attr:`last_values`;
:func:`pop_logged_values` is how the trainer finds those values to log them.
"""
import weakref
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

from torch import Tensor, nn

from ..utils.errors import ConfigError
from .build import build_loss  # noqa: F401  (a name of the seed's pipe module)
from .pairing import pair, seed_form
from .term import LossTerm

# the released seed's pipe module had no __all__: ``from engine.loss.pipe import *`` gave
# its helpers too (LossContainer, dict2lower, build_loss), which wheel projects then use
__all__ = ["LossCompose", "LossKeyCompose", "LossKeyCompose2", "pop_logged_values",
           "LossContainer", "LossItem", "dict2lower", "build_loss"]

_DEFAULT_WHERE = "trainer.model.loss"


class LossCompose(nn.Module):
    """The weighted sum of a list of loss entries, as one scalar tensor.

    ``loss_cfgs``: ``[dict(name=..., param=dict(lambda_weight=w, ...), input_name=[...]),
    ...]``; an entry may also be a loss object or function (the seed's ``callable(loss)``
    form), called with the inputs as they are. Called with a tuple/list (given
    positionally to every loss) or a dict (each loss reads its ``input_name`` keys).
    """

    def __init__(self, loss_cfgs: Sequence, where: str = _DEFAULT_WHERE):
        super().__init__()
        if isinstance(loss_cfgs, (Mapping, str)) or not isinstance(loss_cfgs, Sequence):
            raise ConfigError(
                f"{where}: expected a list of loss entries [dict(name=..., param=...), ...], "
                f"got {type(loss_cfgs).__name__} {loss_cfgs!r}"
                + (" (a dict of named lists is for LossKeyCompose)"
                   if isinstance(loss_cfgs, Mapping) else "")
            )
        if len(loss_cfgs) == 0:
            raise ConfigError(f"{where}: the list of losses is empty; name at least one.")
        self.terms = nn.ModuleList(_term(entry, f"{where}[{i}]") for i, entry in enumerate(loss_cfgs))

    def forward(self, inputs: Any, by_order: bool = False) -> Tensor:
        return loss_sum(term(inputs, by_order) for term in self.terms)


class LossKeyCompose(nn.Module):
    """One weighted sum per key (keys lower-case) of that key's losses.

    ``loss_cfgs``: ``dict(loss1=[entry, (entry, entry), ...], loss2=[...])``; an entry is a
    dict, a tuple (or list) of entries is a *group*: several losses applied to the same
    input, counting as one loss when inputs are paired with losses.

    Called with (the first that fits wins):

    1. a dict whose values at the loss keys are *lists of inputs* (the seed's form,
       :mod:`engine.loss.pairing`): returns the **total**, one scalar tensor; each key's
       value, detached, is in :attr:`last_values`;
    2. a dict whose keys are exactly the loss keys, each value that key's one input (a
       tuple or a dict): returns ``{key: tensor}``;
    3. one tuple/list or dict shared by every key: returns ``{key: tensor}``.

    ``device`` (the seed's second argument, e.g. ``cfg.TRAINER.DEVICE``): where the
    losses' own tensors (class weights) go; the engine moves a model's losses with its
    networks anyway. A loss object or function in a key's list is one loss of the key.
    """

    def __init__(self, loss_cfgs: Mapping, device=None, where: str = _DEFAULT_WHERE):
        super().__init__()
        if not isinstance(loss_cfgs, Mapping):
            raise ConfigError(
                f"{where}: expected a dict of named loss lists, e.g. "
                f"dict(loss1=[dict(name='MSELoss')]), got {type(loss_cfgs).__name__} "
                f"{loss_cfgs!r}" + (" (a plain list is for LossCompose or LossKeyCompose2)"
                                    if isinstance(loss_cfgs, (list, tuple)) else "")
            )
        if not loss_cfgs:
            raise ConfigError(f"{where}: no losses configured; add e.g. loss1=[dict(name=...)].")
        self.where = where
        groups: Dict[str, nn.ModuleList] = {}
        for key, entries in loss_cfgs.items():
            name = str(key).lower()
            if name in groups:
                raise ConfigError(f"{where}: loss key '{name}' is given twice (keys ignore case).")
            groups[name] = _losses_of_key(entries, f"{where}.{name}")
        try:
            self.groups = nn.ModuleDict(groups)
        except KeyError as e:
            raise ConfigError(f"{where}: a loss key can not be used as a name: {e}") from None
        #: ``{key: detached value}`` of the latest call in the seed's list form.
        self.last_values: Dict[str, Tensor] = {}
        _ALL.add(self)
        if device is not None:  # the seed's LossKeyCompose(loss_cfgs, device='cuda')
            from ..utils.device import resolve_device
            self.to(resolve_device(str(device)))

    def forward(self, inputs: Any) -> Union[Tensor, Dict[str, Tensor]]:
        groups = self.groups
        if not isinstance(inputs, Mapping):  # a tuple shared by every key: the common call
            return {key: loss_sum([loss(inputs) for loss in losses]) for key, losses in groups.items()}
        keys = list(groups.keys())
        lists = seed_form(inputs, keys, self.where)
        if lists is not None:
            per_key = {key: loss_sum(loss(item, True) for loss, item in
                                 pair(key, lists[key], groups[key], self.where))
                       for key in keys}
            self.last_values = {key: value.detach() for key, value in per_key.items()}
            _ALL.add(self)  # again: a copy (deepcopy, pickle) was not constructed
            return loss_sum(per_key.values())
        per_key = self._split(inputs, keys)
        return {key: loss_sum([loss(per_key[key]) for loss in losses]) for key, losses in groups.items()}

    @staticmethod
    def _split(inputs: Mapping, keys: List[str]) -> Dict[str, Any]:
        if inputs:
            lowered = {str(k).lower(): v for k, v in inputs.items()}
            if set(lowered) == set(keys):
                return lowered
        return {key: inputs for key in keys}


class LossKeyCompose2(LossCompose):
    """The seed's recommended form: a list of entries called with one dict of named
    tensors, each entry reading its ``input_name``; returns the total (one scalar).

    It is :class:`LossCompose` (which also takes a tuple) that also keeps each entry's
    detached value in :attr:`last_values`, named by the entry's ``name`` (a repeated
    name gets ``_<index in the list>``), for the log."""

    def __init__(self, loss_cfgs: Sequence, where: str = _DEFAULT_WHERE):
        super().__init__(loss_cfgs, where)
        names = [type(term.loss).__name__ for term in self.terms]
        self.value_names = [n if names.index(n) == i else f"{n}_{i}" for i, n in enumerate(names)]
        self.last_values: Dict[str, Tensor] = {}
        _ALL.add(self)

    def forward(self, inputs: Any, by_order: bool = False) -> Tensor:
        values = [term(inputs, by_order) for term in self.terms]
        self.last_values = {n: v.detach() for n, v in zip(self.value_names, values)}
        _ALL.add(self)  # again: a copy (deepcopy, pickle) was not constructed
        return loss_sum(values)


def pop_logged_values(owner: Any) -> Dict[str, Tensor]:
    """The :attr:`last_values` of every seed-form composition ``owner`` (a model) holds as
    an attribute (or inside a dict/list attribute), emptied once read.

    The trainer calls it after each ``run_step`` and logs what it returns, so the per-key
    values of ``total = self.loss(dict(loss1=[...]))`` reach the log line and
    metrics.jsonl although ``run_step`` returned only the total. A name held by two
    compositions is prefixed by the attribute (``loss_d.loss1``). While no composition
    alive holds a value (the common case) nothing is walked: the step calls this once per
    micro-batch and once per phase, and a walk costs ~20 us a call."""
    if not _ALL.any_holds_values():
        return {}
    found: Dict[str, Tensor] = {}
    for attr, module in _held_compositions(owner):
        for name, v in module.last_values.items():
            found[f"{attr}.{name}" if name in found else name] = v
        module.last_values = {}
    return found


class _Alive:
    """Weak references to every seed-form composition alive. A plain set of references,
    not a ``WeakSet``: :func:`pop_logged_values` asks it twice a step whether any holds a
    value, and a WeakSet's guarded iteration cost ~3 us a time (six Python calls)."""

    def __init__(self):
        self._refs = set()  # a reference leaves the set when its composition dies

    def add(self, module) -> None:
        self._refs.add(weakref.ref(module, self._refs.discard))  # once: equal references are one

    def any_holds_values(self) -> bool:
        for ref in tuple(self._refs):  # a snapshot: a collection may drop one meanwhile
            module = ref()
            if module is not None and module.last_values:
                return True
        return False


_HELD: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
#: every seed-form composition alive (LossKeyCompose, LossKeyCompose2)
_ALL = _Alive()


def _held_compositions(owner: Any) -> List[Tuple[str, Any]]:
    """(attribute, composition) pairs of ``owner``, found again only when its attributes
    change: walking every attribute twice a step cost ~50 us (doc/benchmarks.md)."""
    attrs = vars(owner)
    key = tuple(_identity(value) for value in attrs.values())
    try:
        cached = _HELD.get(owner)
    except TypeError:  # an owner that cannot be weakly referenced or hashed: no cache
        cached, owner = None, None
    if cached is not None and cached[0] == key:
        return cached[1]
    held = [(attr, module) for attr, value in attrs.items() for module in _compositions(value)]
    if owner is not None:
        _HELD[owner] = (key, held)
    return held


def _identity(value: Any):
    """What says a value is still the same: its id, and its items' for a container (a
    loss put into a dict attribute after the first step is found too)."""
    if isinstance(value, (dict, nn.ModuleDict)):
        return id(value), tuple(map(id, value.values()))
    if isinstance(value, (list, tuple, nn.ModuleList)):
        return id(value), tuple(map(id, value))
    return id(value)


def _compositions(value: Any) -> Iterable[Any]:
    if isinstance(value, (LossKeyCompose, LossKeyCompose2)):
        return [value]
    items = value.values() if isinstance(value, (Mapping, nn.ModuleDict)) else (
        value if isinstance(value, (list, tuple, nn.ModuleList)) else ())
    return [v for v in items if isinstance(v, (LossKeyCompose, LossKeyCompose2))]


def _losses_of_key(entries: Any, where: str) -> nn.ModuleList:
    """A key's losses: a term per entry dict, a :class:`LossCompose` per tuple group."""
    if isinstance(entries, (Mapping, str)) or not isinstance(entries, Sequence):
        raise ConfigError(
            f"{where}: expected a list of loss entries [dict(name=..., param=...), ...] (a "
            f"tuple of entries inside it is a group), got {type(entries).__name__} {entries!r}"
        )
    if len(entries) == 0:
        raise ConfigError(f"{where}: the list of losses is empty; name at least one.")
    losses = []
    for i, entry in enumerate(entries):
        if isinstance(entry, (list, tuple)):
            losses.append(LossCompose(entry, f"{where}[{i}]"))
        else:
            losses.append(_term(entry, f"{where}[{i}]"))
    return nn.ModuleList(losses)


def _term(entry: Any, where: str) -> LossTerm:
    """A config entry's term; a loss object or function (the seed accepted callables)
    is a term of weight 1 that gets the inputs as they are."""
    if callable(entry) and not isinstance(entry, Mapping):
        return LossTerm(entry, 1.0, None, where)
    return LossTerm.from_cfg(entry, where)


def loss_sum(values: Iterable[Tensor]) -> Tensor:
    """The sum of loss terms, the first not added to 0 as ``sum()`` would: that ``0 + term``
    was one more tensor, autograd node and backward step each call, with the same
    gradients. None for no terms."""
    total = None
    for value in values:
        total = value if total is None else total + value
    return total


from ..compat.seed.loss.pipe_extras import LossContainer, LossItem, dict2lower  # noqa: E402,F401  the seed's names (doc/seed.md)
