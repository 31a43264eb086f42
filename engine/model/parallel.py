"""Wrapping the bundle's trained networks for the run's parallel mode.

The trainer calls :func:`wrap_for_parallel` once, after the model is built and on its
device; it goes through :meth:`BaseModel.wrap_networks`, so the attribute the user's
``run_step`` calls (``self.g_model``) holds the wrapper while checkpoints, EMA and
evaluation keep the unwrapped network (a checkpoint is the same in every mode).

* Several processes (``comm.get_world_size() > 1``) and ``trainer.parallel: 'ddp'``:
  each network with trainable parameters becomes a ``DistributedDataParallel``
  (``device_ids=[this GPU]`` on CUDA, none on CPU) with the ``trainer.ddp.*`` options;
  with ``trainer.ddp.sync_bn`` its BatchNorm layers become ``SyncBatchNorm`` first.
* One process driving several GPUs (``trainer.parallel: 'dp'``, launched with
  ``--num-gpus N``): ``DataParallel`` over GPUs 0..N-1.
* ``trainer.fsdp.enabled``: the networks are sharded in place instead (fsdp.py), on any
  number of processes, one included.
* Otherwise nothing is wrapped.

Before any wrap, ``trainer.compile`` and ``trainer.channels_last`` are applied to the
networks in place (speed.py), so DDP wraps the compiled network and checkpoints keep
their keys.

A network without trainable parameters (a frozen feature extractor, a fixed loss
network) is never wrapped: there is nothing to synchronise and DDP refuses it.

The wrappers answer for the network: ``self.g_model.forward_train(img, gt)`` (a method of
the user's network, as seed projects call it) runs through DDP's forward, so DDP
prepares its gradient all-reduce exactly as for ``self.g_model(img)``; other attributes
(``self.g_model.num_classes``) read through to the network.
"""
import functools
import inspect
import logging

from torch import nn

from ..utils import comm
from ..utils.errors import ConfigError
from .fsdp import fsdp_enabled, shard_networks
from .method_calls import call_as_forward, is_network_method
from .speed import compile_options, prepare_networks

__all__ = ["wrap_for_parallel", "ddp_options", "DistributedDataParallel", "DataParallel"]

logger = logging.getLogger(__name__)

_DDP_TAKES_FORWARD_SYNC_BUFFERS = "forward_sync_buffers" in inspect.signature(
    nn.parallel.DistributedDataParallel.__init__).parameters


def ddp_options(cfg) -> dict:
    """DistributedDataParallel keyword arguments from ``trainer.ddp``. Newer torch calls
    ``broadcast_buffers`` ``forward_sync_buffers`` (buffers are then always synced once
    when wrapping, which the engine wants anyway: every rank starts from rank 0's)."""
    node = cfg.TRAINER.DDP
    buffers = "forward_sync_buffers" if _DDP_TAKES_FORWARD_SYNC_BUFFERS else "broadcast_buffers"
    return {
        "find_unused_parameters": bool(node.FIND_UNUSED_PARAMETERS),
        buffers: bool(node.BROADCAST_BUFFERS),
        "gradient_as_bucket_view": bool(node.GRADIENT_AS_BUCKET_VIEW),
    }


def _trainable(network: nn.Module) -> bool:
    return any(p.requires_grad for p in network.parameters())


class _AnswersForTheNetwork:
    """Unknown attributes of the wrapper are the network's (module docstring); a method
    of the network comes through :meth:`network_method`."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            network = self._modules.get("module")
            if network is None or name.startswith("__"):
                raise
            value = getattr(network, name)
            if is_network_method(network, name, value):
                return self.network_method(name, value)
            return value

    def network_method(self, name: str, method):
        return method


class DistributedDataParallel(_AnswersForTheNetwork, nn.parallel.DistributedDataParallel):
    """torch's DDP; a method of the network runs through DDP's forward (one call with
    the method in forward's place), so DDP prepares its gradient all-reduce."""

    def network_method(self, name: str, method):
        return functools.partial(self._through_forward, name)

    def _through_forward(self, name, *args, **kwargs):
        return call_as_forward(self, self.module, name, *args, **kwargs)


class DataParallel(_AnswersForTheNetwork, nn.DataParallel):
    """torch's DataParallel. A method other than forward runs on the network itself, on
    one GPU: DataParallel's replicas copy the network's attributes, so a method could not
    be routed through its forward."""


def wrap_for_parallel(model, cfg):
    """Wrap ``model``'s registered networks for this process's mode, after compiling them
    / making them channels_last as the config asks (speed.py); returns ``model``."""
    prepare_networks(model, cfg)
    mode = str(cfg.TRAINER.PARALLEL).strip().lower()
    device = model.device
    if fsdp_enabled(cfg):
        shard_networks(model, cfg)
    elif mode == "ddp" and comm.get_world_size() > 1:
        options = ddp_options(cfg)
        sync_bn = bool(cfg.TRAINER.DDP.SYNC_BN)
        device_ids = [device.index] if device.type == "cuda" else None

        def wrap(name, network):
            if not _trainable(network):
                logger.info("%s has no trainable parameters: not wrapped in DistributedDataParallel", name)
                return network
            if sync_bn:
                network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
            return DistributedDataParallel(network, device_ids=device_ids, **options)

        model.wrap_networks(wrap)
        logger.info("DistributedDataParallel over %d processes (%s)%s: %s", comm.get_world_size(),
                    "NCCL" if device.type == "cuda" else "gloo", ", SyncBatchNorm" if sync_bn else "",
                    ", ".join(f"{k}={v}" for k, v in options.items()))
    elif mode == "dp" and comm.get_gpus_per_process() > 1:
        if compile_options(cfg.TRAINER.COMPILE) is not None:
            raise ConfigError("trainer.compile does not work with DataParallel (trainer.parallel 'dp'): its "
                              "replicas would run the original network's compiled call; use DDP "
                              "(trainer.parallel 'ddp', one process per GPU) or set trainer.compile False")
        gpus = list(range(comm.get_gpus_per_process()))

        def wrap(name, network):
            if not _trainable(network):
                return network
            return DataParallel(network, device_ids=gpus, output_device=gpus[0])

        model.wrap_networks(wrap)
        logger.info("DataParallel over GPUs %s", gpus)
    return model

