"""The device-side input pipeline: uint8 batches from the workers, copied ahead of time and
normalised on the device.

Why: a float32 image batch is 4x the bytes of the uint8 one, both to build in the
workers and to copy to the GPU, and the copy blocks the step that needs it. timm's
``PrefetchLoader`` (with ``fast_collate``) is the model followed here:

* ``dataloader.device_normalize`` (``mean``/``std`` in pixel units, per channel, and the
  batch ``keys`` they apply to): the workers leave those fields uint8. The dataset's
  pipeline ends without ``Normalize``/``ToTensor`` for them; :class:`Uint8Collate` turns
  each H x W x C (or H x W) uint8 array into a C x H x W uint8 tensor (no float
  conversion) before the usual collate stacks them. The device computes
  ``(x.float() - mean) / std`` in float32, the same IEEE operations as ``Normalize``,
  so the batch equals the default path's bit for bit (tests/data/test_device_batches.py);
  ``mean=[0], std=[255]`` is ``ToTensor``'s ``x / 255``.
* ``trainer.channels_last``: every 4-D floating tensor of the batch is made channels_last
  where it arrives on the device (the networks are converted in engine/model/speed.py).
* :class:`DevicePrefetcher` moves the batch to the device one step ahead. On CUDA (pinned
  memory, ``dataloader.pin_memory``) the copy and the normalisation run on a side stream
  while the current step computes; the step's stream waits for it, and every tensor is
  ``record_stream``-ed so the allocator does not reuse its memory too early. On the CPU
  the same path runs without the stream.

Without either option nothing here runs: the batch reaches ``run_step`` as the collate
made it, on the host, as before.
"""
import contextlib
import copy
from collections.abc import Mapping
from typing import Any, Callable, List, Optional

import numpy as np
import torch

from ..utils.errors import ConfigError

__all__ = ["DeviceStage", "Uint8Collate", "DevicePrefetcher", "uint8_chw"]

WHERE = "dataloader.device_normalize"


class Uint8Collate:
    """``base`` collate after each sample's ``keys`` became C x H x W uint8 tensors (a
    class, not a closure: spawned workers pickle it)."""

    def __init__(self, keys: List[str], base: Callable):
        self.keys, self.base = list(keys), base

    def __call__(self, samples):
        converted = []
        for sample in samples:
            if not isinstance(sample, Mapping):
                raise ConfigError(f"{WHERE} needs dict samples (fields {self.keys}), got {type(sample).__name__}")
            sample = dict(sample)
            for key in self.keys:
                if key not in sample:
                    raise ConfigError(f"{WHERE}.keys names {key!r}, which a sample lacks (it has {sorted(sample)})")
                sample[key] = _uint8_chw(sample[key], key)
            converted.append(sample)
        return self.base(converted)


def uint8_chw(array: np.ndarray) -> torch.Tensor:
    """An H x W x C (or H x W) uint8 array as a contiguous C x H x W uint8 tensor.

    numpy's transposing copy, so that the collate stacks contiguous images: faster than
    stacking permuted views (torch's strided uint8 copy), 2.2 against 3.4 ms for 32
    images of 224 x 224 (doc/benchmarks.md, benchmarks/input_pipeline.py)."""
    array = array if array.ndim == 3 else array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _uint8_chw(value, key: str) -> torch.Tensor:
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (2, 3):
        return uint8_chw(value)
    if isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 3:
        return value
    kind = f"{value.dtype} {tuple(value.shape)}" if hasattr(value, "dtype") else type(value).__name__
    raise ConfigError(f"{WHERE}: field {key!r} is {kind}; the workers must leave it uint8 (an H x W x C "
                      f"array or a C x H x W tensor): end its pipeline without Normalize and ToTensor")


class DeviceStage:
    """What happens to a batch where it arrives on ``device``: the move, the
    normalisation of ``keys`` (when ``mean`` is set), channels_last."""

    def __init__(self, device, mean=(), std=(), keys=("input_data",), channels_last: bool = False):
        self.device, self.keys, self.channels_last = torch.device(device), list(keys), bool(channels_last)
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if bool(mean) != bool(std) or (mean and len(mean) != len(std) and 1 not in (len(mean), len(std))):
            raise ConfigError(f"{WHERE}: mean {mean} and std {std} need the same number of values (one per "
                              f"channel, or one for all)")
        if any(s == 0 for s in std):
            raise ConfigError(f"{WHERE}.std must not be 0, got {std}")
        if mean and not self.keys:
            raise ConfigError(f"{WHERE}.keys is empty: name the batch fields to normalise")
        self.normalizes = bool(mean)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.format = torch.channels_last if self.channels_last else torch.contiguous_format

    @classmethod
    def from_cfg(cls, cfg, device) -> Optional["DeviceStage"]:
        """The stage ``cfg`` asks for, or None (neither option: batches stay on the host)."""
        node = cfg.DATALOADER.DEVICE_NORMALIZE
        mean, std = list(node.MEAN), list(node.STD)
        channels_last = bool(cfg.TRAINER.CHANNELS_LAST)
        if not (mean or std or channels_last):
            return None
        return cls(device, mean, std, node.KEYS, channels_last)

    def collate(self, base: Callable) -> Callable:
        """The workers' collate: ``base`` on uint8 C x H x W fields when normalising."""
        return Uint8Collate(self.keys, base) if self.normalizes else base

    def side_stream(self) -> Optional["torch.cuda.Stream"]:
        if self.device.type != "cuda":
            return None
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))  # mean/std are copied
        return stream

    def __call__(self, batch):
        batch = _map_tensors(batch, lambda t: t.to(self.device, non_blocking=True))
        if self.normalizes:
            if not isinstance(batch, dict):
                raise ConfigError(f"{WHERE} needs dict batches, got {type(batch).__name__}")
            for key in self.keys:
                batch[key] = self._normalize(batch.get(key), key)
        if self.channels_last:
            batch = _map_tensors(batch, self._channels_last)
        return batch

    def _normalize(self, images, key: str) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            kind = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else repr(images)
            raise ConfigError(f"{WHERE}: batch field {key!r} is {kind}, expected a B x C x H x W uint8 batch "
                              f"(the collate's stack of the workers' uint8 images)")
        if self.mean.numel() not in (1, images.shape[1]) or self.std.numel() not in (1, images.shape[1]):
            raise ConfigError(f"{WHERE}: mean/std have {self.mean.numel()}/{self.std.numel()} values, "
                              f"field {key!r} has {images.shape[1]} channels")
        out = images.to(dtype=torch.float32, memory_format=self.format)
        return out.sub_(self.mean).div_(self.std)  # Normalize's float32 (x - mean) / std

    @staticmethod
    def _channels_last(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dim() == 4 and tensor.is_floating_point():
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor


def _map_tensors(value, fn):
    """``fn`` on every tensor of nested dicts, lists and tuples (other values as they are);
    new containers of the same types, the loader's own left untouched."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        out = copy.copy(value)  # keeps an OrderedDict or a dict subclass what it is
        for key, item in value.items():
            out[key] = _map_tensors(item, fn)
        return out
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(_map_tensors(v, fn) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(v, fn) for v in value)
    return value


def _tensors(value):
    """Every tensor of nested dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


class DevicePrefetcher:
    """The loader's batches through ``stage``, one batch ahead (module docstring). An
    error while fetching the batch ahead is raised at the ``next()`` that would have
    returned it, so it names the same step as without look-ahead."""

    def __init__(self, batches, stage: DeviceStage):
        self._batches, self._stage = batches, stage
        self._stream = stage.side_stream()
        self._ahead: Any = None  # (batch,) or the exception fetching it raised

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._batches)

    def _fetch(self):
        try:
            batch = next(self._batches)
            with torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext():
                return (self._stage(batch),)
        except Exception as error:  # noqa: BLE001 - StopIteration and loading errors, raised in turn
            return error

    def __next__(self):
        ahead, self._ahead = (self._ahead if self._ahead is not None else self._fetch()), None
        if isinstance(ahead, BaseException):
            self._ahead = ahead  # the same again: an exhausted or broken loader stays so
            raise ahead
        batch = ahead[0]
        if self._stream is not None:
            current = torch.cuda.current_stream(self._stage.device)
            current.wait_stream(self._stream)
            for tensor in _tensors(batch):
                if tensor.is_cuda:
                    tensor.record_stream(current)
        self._ahead = self._fetch()  # its copy overlaps the step that uses ``batch``
        return batch

    def close(self) -> None:
        """Stop the loader's workers now (engine/data/loader.py)."""
        self._ahead = None
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()
