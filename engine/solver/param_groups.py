"""Parameter groups from an ``optimizer`` node: per-module LR / weight-decay multipliers
and no weight decay on norm layers or biases.

Keys of the ``optimizer`` node read here (all optional; without them the optimizer gets
one group holding every trainable parameter, as before):

* ``param_groups``: a list of rules ``dict(pattern=REGEX, lr_mult=1.0,
  weight_decay_mult=1.0)``. A parameter takes the first rule whose ``pattern`` matches its
  whole name (``re.fullmatch`` on ``network.named_parameters()`` names, e.g.
  ``'features\\..*'``). A rule that takes no parameter is an error.
* ``weight_decay_norm``: weight decay of the parameters of norm layers (BatchNorm,
  GroupNorm, LayerNorm, InstanceNorm, ...); ``None`` = the optimizer's weight decay.
* ``weight_decay_bias``: weight decay of the other ``bias`` parameters; ``None`` = same.

A rule's ``weight_decay_mult`` multiplies whatever weight decay the parameter has after
the two keys above. Each group carries its ``lr_mult`` and a ``name``; the LR schedules
scale every group from its own base LR, so multipliers hold through any schedule.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from engine.utils.errors import ConfigError

__all__ = ["NORM_TYPES", "build_param_groups", "format_param_groups", "GROUP_KEYS"]

NORM_TYPES = tuple(t for t in (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
    nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, getattr(nn, "RMSNorm", None),
) if t is not None)
GROUP_KEYS = ("param_groups", "weight_decay_norm", "weight_decay_bias")
RULE_KEYS = ("pattern", "lr_mult", "weight_decay_mult")


def _number(value, where: str, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{where} must be a number >= 0{' or None' if allow_none else ''}, "
                          f"got {value!r}")
    return float(value)


def _rules(rules, where: str) -> List[Tuple[str, "re.Pattern", float, float]]:
    if rules is None:
        return []
    if not isinstance(rules, (list, tuple)):
        raise ConfigError(f"{where}.param_groups must be a list of dict(pattern=..., lr_mult=..., "
                          f"weight_decay_mult=...), got {rules!r}")
    out = []
    for i, rule in enumerate(rules):
        at = f"{where}.param_groups[{i}]"
        if not isinstance(rule, dict):
            raise ConfigError(f"{at}: expected a dict with a 'pattern', got {rule!r}")
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            raise ConfigError(f"{at}: unknown keys {unknown}; valid keys: {list(RULE_KEYS)}")
        pattern = rule.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{at}.pattern must be a regular expression (a non-empty string), "
                              f"got {pattern!r}")
        try:
            regex = re.compile(pattern)
        except re.error as e:
            raise ConfigError(f"{at}.pattern {pattern!r} is not a valid regular expression: {e}") from None
        out.append((pattern, regex, _number(rule.get("lr_mult", 1.0), f"{at}.lr_mult"),
                    _number(rule.get("weight_decay_mult", 1.0), f"{at}.weight_decay_mult")))
    return out


def build_param_groups(network: nn.Module, lr: float, weight_decay: Optional[float], node: Dict,
                       where: str) -> List[Dict]:
    """Param-group dicts for ``network`` (``node``: the lower-cased optimizer node).
    ``weight_decay`` is None when the optimizer has no such parameter."""
    rules = _rules(node.get("param_groups"), where)
    wd_norm = _number(node.get("weight_decay_norm"), f"{where}.weight_decay_norm", allow_none=True)
    wd_bias = _number(node.get("weight_decay_bias"), f"{where}.weight_decay_bias", allow_none=True)
    wants_wd = wd_norm is not None or wd_bias is not None or any(r[3] != 1.0 for r in rules)
    if weight_decay is None and wants_wd:
        raise ConfigError(f"{where}: weight_decay_norm / weight_decay_bias / weight_decay_mult "
                          f"are set, but the optimizer {node.get('type')!r} has no weight_decay")

    groups: "OrderedDict[tuple, Dict]" = OrderedDict()
    taken = [0] * len(rules)
    seen, names = set(), []
    for module_name, module in network.named_modules():
        is_norm = isinstance(module, NORM_TYPES)
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full = f"{module_name}.{param_name}" if module_name else param_name
            names.append(full)
            kind, wd = "", weight_decay
            if is_norm and wd_norm is not None:
                kind, wd = "norm", wd_norm
            elif param_name == "bias" and wd_bias is not None:
                kind, wd = "bias", wd_bias
            index = next((i for i, r in enumerate(rules) if r[1].fullmatch(full)), None)
            lr_mult = 1.0
            if index is not None:
                taken[index] += 1
                lr_mult = rules[index][2]
                wd = None if wd is None else wd * rules[index][3]
            key = (index, kind)
            if key not in groups:
                label = "default" if index is None else rules[index][0]
                group = {"params": [], "lr": lr * lr_mult, "lr_mult": lr_mult,
                         "name": label + (f" ({kind})" if kind else "")}
                if wd is not None:
                    group["weight_decay"] = wd
                groups[key] = group
            groups[key]["params"].append(param)
    for i, count in enumerate(taken):
        if count == 0:
            pattern, regex = rules[i][0], rules[i][1]
            earlier = any(regex.fullmatch(n) for n in names)
            why = ("every parameter it matches was taken by an earlier rule (the first "
                   "matching rule wins)") if earlier else "it matches no trainable parameter"
            raise ConfigError(
                f"{where}.param_groups[{i}] (pattern {pattern!r}): {why}. The pattern must match "
                f"the whole parameter name; names look like {names[:6]}"
                f"{f' ... ({len(names)} in all)' if len(names) > 6 else ''}")
    return list(groups.values())


def format_param_groups(optimizer: torch.optim.Optimizer, title: str) -> str:
    """A table of the optimizer's groups: name, tensors, elements, lr, weight decay."""
    rows = [("group", "tensors", "elements", "lr", "weight_decay")]
    for i, g in enumerate(optimizer.param_groups):
        default = "all" if len(optimizer.param_groups) == 1 else str(i)
        rows.append((g.get("name", default), str(len(g["params"])),
                     str(sum(p.numel() for p in g["params"])), f"{g['lr']:.4g}",
                     f"{g['weight_decay']:.4g}" if "weight_decay" in g else "-"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if c == 0 else cell.rjust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return title + "\n" + "\n".join("    " + line for line in lines)
