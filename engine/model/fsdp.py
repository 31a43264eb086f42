"""Fully sharded data parallel: the bundle's networks under FSDP2 (``fully_shard``).

DDP keeps a whole copy of every parameter, gradient and optimizer moment on every
process; ``trainer.fsdp.enabled`` shards all three (and the EMA copy) over the processes,
so each holds about 1/N of them and gathers a layer's weights only while it runs. The
networks are sharded in place (``fully_shard`` turns each module into its FSDP subclass):
``self.g_model`` is still the object the user's ``run_step`` calls, no wrapper in between.

* A method of the network called directly (``self.g_model.forward_train(...)``, as seed
  projects do) runs through the network's call, so its weights are gathered for it.
* Each module whose class name is in ``trainer.fsdp.wrap`` (a transformer block, a ResNet
  stage) becomes its own unit of all-gather, then the root network.
* The optimizers were built on the unsharded parameters; they are pointed at the sharded
  ones (same order, no step taken yet, so no state to move).
* The EMA copy is sharded like its network: its update is then shard by shard, local.
* AMP bfloat16 becomes FSDP's ``MixedPrecisionPolicy`` (parameters gathered in bfloat16,
  gradients reduced in float32). float16 needs a GradScaler whose overflow verdict all
  processes share, which FSDP's shards do not give: refused, with the reason.
* Inference (evaluation, the seed's ``self.model(batch)`` in eval mode, pictures drawn on
  one process) must not be a collective: a process may evaluate fewer batches than
  another. :class:`Sharding` gathers the weights once into an unsharded replica when the
  bundle is switched to evaluation (every process does that at the same point) and
  inference runs on the replica until the next optimizer step or load.

One process works too: a group of one is created, so a sharded run can go on with
``--num-gpus 1`` (the checkpoints reshard, engine/checkpoint/sharded.py).
"""
import copy
import logging
from typing import Dict, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn

from ..utils import comm
from ..utils.errors import ConfigError
from .method_calls import route_methods

__all__ = ["fsdp_enabled", "offloads_to_cpu", "shard_networks", "Sharding", "ensure_process_group"]

logger = logging.getLogger(__name__)


def fsdp_enabled(cfg) -> bool:
    node = cfg.TRAINER.get("FSDP")
    return bool(node is not None and node.ENABLED)


def offloads_to_cpu(cfg) -> bool:
    """Whether the shards live in host memory (``trainer.fsdp.cpu_offload``): the process
    group then needs a backend for CPU tensors too (comm.group_backend)."""
    return fsdp_enabled(cfg) and bool(cfg.TRAINER.FSDP.CPU_OFFLOAD)


def ensure_process_group(device: torch.device, cpu_collectives: bool = False) -> None:
    """FSDP needs a process group; a single process gets a group of one (in memory)."""
    if dist.is_initialized():
        return
    backend = comm.group_backend(device, cpu_collectives)
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    logger.info("fully sharded on one process: a process group of one (%s)", backend)


def _options(cfg, model) -> dict:
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy

    node = cfg.TRAINER.FSDP
    wrap = node.WRAP
    if isinstance(wrap, str):
        wrap = [wrap]
    if not isinstance(wrap, (list, tuple)) or not all(isinstance(w, str) and w for w in wrap):
        raise ConfigError(f"trainer.fsdp.wrap must be a list of module class names, got {node.WRAP!r}")
    for key in ("RESHARD_AFTER_FORWARD", "CPU_OFFLOAD"):
        if not isinstance(node[key], bool):
            raise ConfigError(f"trainer.fsdp.{key.lower()} must be True or False, got {node[key]!r}")
    if node.CPU_OFFLOAD and model.device.type != "cuda":
        raise ConfigError("trainer.fsdp.cpu_offload keeps the shards in host memory for CUDA training; "
                          "this run trains on the CPU already: set it False")
    options = {"reshard_after_forward": bool(node.RESHARD_AFTER_FORWARD)}
    if node.CPU_OFFLOAD:
        options["offload_policy"] = CPUOffloadPolicy()
    amp = model.amp
    if amp.enabled:
        if amp.dtype == torch.float16:
            raise ConfigError("solver.amp.dtype float16 with trainer.fsdp.enabled: the GradScaler's overflow "
                              "check would see only this process's gradient shards, so the processes could "
                              "disagree on skipping a step; use solver.amp.dtype bfloat16 (no scaler needed)")
        options["mp_policy"] = MixedPrecisionPolicy(param_dtype=amp.dtype, reduce_dtype=torch.float32)
    return {"wrap": tuple(wrap), **options}


def _shard(network: nn.Module, wrap: Sequence[str], options: dict) -> int:
    """fully_shard the ``wrap`` submodules (innermost first), then the root; returns how
    many submodules became units of their own."""
    from torch.distributed.fsdp import fully_shard

    blocks = [m for m in network.modules() if m is not network and type(m).__name__ in wrap]
    for block in reversed(blocks):  # children before their parents
        fully_shard(block, **options)
    fully_shard(network, **options)
    return len(blocks)


def _repoint_optimizers(model, before: Dict[int, str], network: nn.Module) -> None:
    """The solvers' optimizers hold the unsharded parameters: swap in the sharded ones."""
    after = dict(network.named_parameters())
    for solver in model.solvers.values():
        swapped = False
        for group in solver.optimizer.param_groups:
            new = [after[before[id(p)]] if id(p) in before else p for p in group["params"]]
            swapped |= any(a is not b for a, b in zip(new, group["params"]))
            group["params"] = new
        if swapped:
            solver.params = [p for g in solver.optimizer.param_groups for p in g["params"]]


class _Template:
    """An unsharded network's structure (on the meta device, no memory) and its
    non-persistent buffers (not in any state dict), to build inference replicas from."""

    def __init__(self, network: nn.Module):
        persistent = set(network.state_dict().keys())
        self.buffers = {n: b.detach().clone() for n, b in network.named_buffers() if n not in persistent}
        self.module = copy.deepcopy(network).to("meta")

    def build(self, state: dict, device: torch.device) -> nn.Module:
        replica = copy.deepcopy(self.module).to_empty(device=device)
        replica.load_state_dict(state, strict=True)
        for name, value in self.buffers.items():
            owner, _, leaf = name.rpartition(".")
            replica.get_submodule(owner).register_buffer(leaf, value.to(device), persistent=False)
        return replica.eval().requires_grad_(False)


class Sharding:
    """What sharding changed on a bundle: the sharded networks, their templates and the
    inference replica (module docstring)."""

    def __init__(self):
        self.templates: Dict[str, _Template] = {}
        self._replica: Optional[nn.Module] = None
        self._replica_key = None

    def replica(self, name: str, source: nn.Module, device: torch.device) -> nn.Module:
        """An unsharded copy of ``source`` (the network ``name`` or its EMA); gathered (a
        collective) only when the weights changed since the last one."""
        key = (name, id(source))
        if self._replica is None or self._replica_key != key:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            state = get_model_state_dict(source, options=StateDictOptions(full_state_dict=True))
            if isinstance(source, _averaged_model_type()):  # the EMA: its network's keys under 'module.'
                state = {k[len("module."):]: v for k, v in state.items() if k.startswith("module.")}
            self._replica = None  # free the old one before building the new one
            self._replica = self.templates[name].build(state, device)
            self._replica_key = key
        return self._replica

    def forget(self, *args) -> None:
        """The weights changed (an optimizer step, a load): the next inference gathers."""
        self._replica = self._replica_key = None


def _averaged_model_type():
    from torch.optim.swa_utils import AveragedModel

    return AveragedModel


def _broadcast_buffers(network: nn.Module, args) -> None:
    """Forward pre-hook: rank 0's buffers (BatchNorm statistics) to every process before a
    training forward, as DDP does (trainer.ddp.broadcast_buffers): the processes' copies,
    which FSDP leaves unsharded, stay one, so checkpoints and evaluation agree with DDP."""
    if network.training and torch.is_grad_enabled():
        for buffer in network.buffers():
            dist.broadcast(buffer, src=0)


def shard_networks(model, cfg) -> Optional[Sharding]:
    """Shard every trainable registered network of ``model`` and the EMA copies of them,
    in place; returns the :class:`Sharding` (also ``model.sharding``)."""
    options = _options(cfg, model)
    wrap = options.pop("wrap")
    ensure_process_group(model.device, cpu_collectives=offloads_to_cpu(cfg))
    sharding = Sharding()
    emas = {name: obj for name, obj in model.registered_states().items() if isinstance(obj, _averaged_model_type())}
    units: List[str] = []
    for name, network in model.named_networks().items():
        if not any(p.requires_grad for p in network.parameters()):
            continue
        sharding.templates[name] = _Template(network)
        before = {id(p): n for n, p in network.named_parameters()}
        count = _shard(network, wrap, options)
        route_methods(network)
        if cfg.TRAINER.DDP.BROADCAST_BUFFERS and dist.get_world_size() > 1 and any(True for _ in network.buffers()):
            network.register_forward_pre_hook(_broadcast_buffers)
        _repoint_optimizers(model, before, network)
        units.append(f"{name} ({count} block(s) + root)")
    for solver in model.solvers.values():
        solver.optimizer.register_step_post_hook(sharding.forget)
    for ema in emas.values():
        _shard(ema.module, wrap, options)
    model.sharding = sharding
    logger.info("fully sharded over %d process(es): %s; EMA sharded: %s; %s", dist.get_world_size(),
                ", ".join(units) or "nothing trainable", ", ".join(emas) or "none",
                ", ".join(f"{k}={v}" for k, v in options.items()))
    return sharding
