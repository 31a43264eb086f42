"""The bundle's state when its networks are sharded (fsdp.py), in the two forms a
checkpoint takes.

* **Consolidated** (``model_final.pth``, what every tool reads): exactly the state a
  bundle trained without sharding has: full tensors, the optimizer state keyed by
  parameter index as torch writes it. :func:`consolidated` gathers it (a collective: every
  process calls it); :func:`load_consolidated` shards such a state onto this run's
  processes, whatever number wrote it.
* **Sharded** (periodic, preemption and best checkpoints, engine/checkpoint/sharded.py):
  each process's shards as ``DTensor``s and the optimizer state flattened by parameter
  name (``torch.distributed.checkpoint.state_dict``), so that
  ``torch.distributed.checkpoint`` can write each process's part and read it back
  resharded onto another number of processes. :func:`optimizer_order` records the
  parameter names in optimizer order, which turns that form back into the consolidated
  one without the bundle (the tools).
"""
from collections import OrderedDict
from typing import Any, Dict, List

import torch
from torch import nn

__all__ = ["consolidated", "load_consolidated", "sharded", "load_sharded", "optimizer_order",
           "solver_networks", "is_dtensor"]


def is_dtensor(value) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(value, DTensor)


def _gathered(tree):
    """``tree`` with every DTensor replaced by its full tensor on the CPU."""
    if is_dtensor(tree):
        return tree.full_tensor().cpu()
    if isinstance(tree, dict):
        return type(tree)((k, _gathered(v)) for k, v in tree.items())
    if isinstance(tree, list):
        return [_gathered(v) for v in tree]
    return tree


def _sharded_like(value, live):
    """A full tensor cut into this process's shard the way ``live`` (a DTensor) is cut;
    no communication: every process holds the full tensor."""
    from torch.distributed.tensor import distribute_tensor

    if is_dtensor(live) and isinstance(value, torch.Tensor) and not is_dtensor(value):
        return distribute_tensor(value.to(live.device, live.dtype), live.device_mesh, live.placements,
                                 src_data_rank=None)
    return value


def _matched(incoming, live):
    if isinstance(incoming, dict) and isinstance(live, dict):
        return {k: _matched(v, live[k]) if k in live else v for k, v in incoming.items()}
    return _sharded_like(incoming, live)


def solver_networks(model) -> Dict[str, nn.Module]:
    """Each solver's network: the registered network holding its parameters."""
    owners = {id(p): net for net in model.networks for p in net.parameters()}
    out = {}
    for name, solver in model.solvers.items():
        first = next((p for p in solver.params if id(p) in owners), None)
        if first is not None:
            out[name] = owners[id(first)]
    return out


def consolidated(model) -> "OrderedDict[str, Any]":
    """The bundle's state as one process without sharding would hold it (collective)."""
    return OrderedDict((name, _gathered(obj.state_dict())) for name, obj in model.registered_states().items())


def load_consolidated(model, state: Dict[str, Any]) -> None:
    """Load a consolidated state into the sharded bundle: each process keeps its shards."""
    solvers = model.solvers
    for name, obj in model.registered_states().items():
        incoming = state[name]
        if name in solvers:
            solver = solvers[name]
            optimizer = dict(incoming["optimizer"])
            params = solver.params
            optimizer["state"] = {index: {k: _sharded_like(v, params[int(index)])
                                          if isinstance(v, torch.Tensor) and v.dim() else v  # not 'step'
                                          for k, v in values.items()}
                                  for index, values in incoming["optimizer"]["state"].items()}
            obj.load_state_dict({**incoming, "optimizer": optimizer})
        else:
            obj.load_state_dict(_matched(incoming, obj.state_dict()))


def _flat_options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(flatten_optimizer_state_dict=True)


def sharded(model) -> "OrderedDict[str, Any]":
    """Each process's shards, the optimizer state flattened by parameter name."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    networks = solver_networks(model)
    out = OrderedDict()
    for name, obj in model.registered_states().items():
        state = obj.state_dict()
        if name in networks:
            state = {**state, "optimizer": get_optimizer_state_dict(networks[name], obj.optimizer,
                                                                     options=_flat_options())}
        out[name] = state
    return _rank0_copies(out)


def _rank0_copies(tree):
    """Unsharded tensors (buffers such as BatchNorm statistics, which each process updates
    on its own batch) as rank 0's copies: the distributed save writes one process's copy
    of them, and it must be rank 0's, as DDP's checkpoints hold. The live ones are left
    alone (copies are broadcast)."""
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return tree
    if isinstance(tree, torch.Tensor) and not is_dtensor(tree):
        copy = tree.detach().clone()
        dist.broadcast(copy, src=0)
        return copy
    if isinstance(tree, dict):
        return type(tree)((k, _rank0_copies(v)) for k, v in tree.items())
    return tree


def load_sharded(model, state: Dict[str, Any]) -> None:
    """Load what :func:`sharded` returned (filled in place by a distributed load)."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    networks = solver_networks(model)
    for name, obj in model.registered_states().items():
        incoming = state[name]
        if name in networks:
            set_optimizer_state_dict(networks[name], obj.optimizer, incoming["optimizer"], options=_flat_options())
            rest = {k: v for k, v in incoming.items() if k != "optimizer"}
            obj.load_state_dict({**rest, "optimizer": obj.optimizer.state_dict()})
        else:
            obj.load_state_dict(incoming)


def optimizer_order(model) -> Dict[str, List[List[str]]]:
    """Per solver, the parameter names of each param group in optimizer order."""
    out = {}
    for name, network in solver_networks(model).items():
        names = {id(p): n for n, p in network.named_parameters()}
        out[name] = [[names[id(p)] for p in group["params"]] for group in model.solvers[name].optimizer.param_groups]
    return out


def indexed_optimizer_state(flat: Dict[str, Any], order: List[List[str]]) -> Dict[str, Any]:
    """The flattened, name-keyed optimizer state as torch's index-keyed state dict."""
    state, groups, index = {}, [], 0
    for names in order:
        first = f"param_groups.{names[0]}."
        group = {k[len(first):]: v for k, v in flat.items() if k.startswith(first)}
        group["params"] = list(range(index, index + len(names)))
        groups.append(group)
        for name in names:
            prefix = f"state.{name}."
            values = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
            if values:
                state[index] = values
            index += 1
    return {"state": state, "param_groups": groups}
