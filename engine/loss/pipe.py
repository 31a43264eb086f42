"""Weighted sums of configured losses: a single sum, or one sum per named key.

``LossKeyCompose`` returns a dict so a model's ``run_step`` can hand it straight to the
trainer, which logs each key separately and backpropagates their sum.
"""
from typing import Any, Dict, Mapping, Sequence

from torch import Tensor, nn

from ..utils.errors import ConfigError
from .term import LossTerm

__all__ = ["LossCompose", "LossKeyCompose"]

_DEFAULT_WHERE = "trainer.model.loss"


class LossCompose(nn.Module):
    """The weighted sum of a list of loss entries, as one scalar tensor.

    ``loss_cfgs``: ``[dict(name=..., param=dict(lambda_weight=w, ...), input_name=[...]),
    ...]``. Called with a tuple/list (given positionally to every loss) or a dict (each
    loss reads its ``input_name`` keys).
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
        self.terms = nn.ModuleList(
            LossTerm.from_cfg(entry, f"{where}[{i}]") for i, entry in enumerate(loss_cfgs)
        )

    def forward(self, inputs: Any) -> Tensor:
        total = self.terms[0](inputs)
        for term in self.terms[1:]:
            total = total + term(inputs)
        return total


class LossKeyCompose(nn.Module):
    """One :class:`LossCompose` per key; returns ``{key: weighted sum}`` (keys lower-case).

    ``loss_cfgs``: ``dict(loss1=[entries...], loss2=[entries...])``. Inputs are a
    tuple/list or a dict shared by every key, or a dict whose keys are exactly the loss
    keys (any case), each value being that key's own inputs (a tuple or a dict).
    """

    def __init__(self, loss_cfgs: Mapping, where: str = _DEFAULT_WHERE):
        super().__init__()
        if not isinstance(loss_cfgs, Mapping):
            raise ConfigError(
                f"{where}: expected a dict of named loss lists, e.g. "
                f"dict(loss1=[dict(name='MSELoss')]), got {type(loss_cfgs).__name__} "
                f"{loss_cfgs!r}" + (" (a plain list is for LossCompose)"
                                    if isinstance(loss_cfgs, (list, tuple)) else "")
            )
        if not loss_cfgs:
            raise ConfigError(f"{where}: no losses configured; add e.g. loss1=[dict(name=...)].")
        groups: Dict[str, LossCompose] = {}
        for key, entries in loss_cfgs.items():
            name = str(key).lower()
            if name in groups:
                raise ConfigError(f"{where}: loss key '{name}' is given twice (keys ignore case).")
            groups[name] = LossCompose(entries, f"{where}.{name}")
        try:
            self.groups = nn.ModuleDict(groups)
        except KeyError as e:
            raise ConfigError(f"{where}: a loss key can not be used as a name: {e}") from None

    def forward(self, inputs: Any) -> Dict[str, Tensor]:
        per_key = self._split(inputs)
        return {key: group(per_key[key]) for key, group in self.groups.items()}

    def _split(self, inputs: Any) -> Dict[str, Any]:
        if isinstance(inputs, Mapping) and inputs:
            lowered = {str(k).lower(): v for k, v in inputs.items()}
            if set(lowered) == set(self.groups.keys()):
                return lowered
        return {key: inputs for key in self.groups.keys()}
