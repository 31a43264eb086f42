"""The pieces ``gpu_throughput.py`` times: the images (synthetic, or a folder of JPEGs it
writes), the engine's network and bundle, and the hand-written timm-style loop.

Both loops read the same dataset class through their own loaders, so what differs is the
loop: the engine's (``TrainBatchSampler``, ``EngineLoader`` with
``dataloader.device_normalize``, the bundle's step, hooks, the per-step loss transfer)
against timm's habits written out by hand (a ``DataLoader`` with persistent workers over
one endless shuffled pass, a uint8 ``fast_collate``, a ``PrefetchLoader`` normalising on
a side CUDA stream, channels_last, autocast, a ``GradScaler`` with float16, no per-step
``.item()``).

Compiled, the hand loop's network is compiled exactly as the engine compiles its own
(``engine.model.speed.network_compile_options``: ``nn.Module.compile`` in place, with the options
engine/model/speed.py derives from ``trainer.compile`` and ``trainer.channels_last``:
inductor's ``fallback_random`` on and ``layout_optimization`` = the channels_last
setting). With inductor's defaults (timm's bare ``torch.compile(model)``) the contiguous
"compiled" variant would get channels_last convolutions on CUDA in the hand loop only,
and the ratio would measure the layout, not the loop. With the same options the same
forward and backward graphs reach inductor, so the hand loop's compile, which runs after
the engine's, is answered from the FX graph cache the engine's filled (dynamo and
AOTAutograd still trace: the engine's network calls through engine/model/method_calls.py's
dispatch, so AOTAutograd's own cache key differs).
"""
import multiprocessing
import os
from contextlib import contextmanager
from typing import Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from engine.data.build import BUILD_DATASET_REGISTRY
from engine.data.dataset import EngineDataSet
from engine.data.loader import worker_start_method
from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY, BUILD_NETWORK_REGISTRY

#: ImageNet statistics in pixel units (the engine's Normalize defaults)
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def write_jpegs(folder: str, count: int, height: int = 375, width: int = 500, seed: int = 0) -> str:
    """``count`` JPEGs of ImageNet's typical size (quality 90): smooth colour fields with
    noise, so that they compress (and decode) like photographs, not like pure noise."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        low = rng.integers(0, 256, (height // 25 + 1, width // 25 + 1, 3), dtype=np.uint8)
        image = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(os.path.join(folder, f"{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


def augment_pipeline(size: int):
    """Decode + RandomResizedCrop + horizontal flip, uint8 out (normalised on the device)."""
    return [dict(name="RandomResizedCrop", size=size), dict(name="RandomFlip", direction="horizontal", p=0.5)]


@BUILD_DATASET_REGISTRY.register()
class ThroughputImages(EngineDataSet):
    """``{'input_data': H x W x 3 uint8, 'target_data': class}``: JPEGs of ``folder``
    decoded (``cv2.imread``, RGB) and augmented, or one synthetic image (``folder`` '')
    of ``size`` px repeated ``count`` times with no decoding. ``turn`` (an Event, set by
    :class:`Turns`): while it is clear, loading waits."""

    def __init__(self, folder: str = "", count: int = 512, size: int = 224, num_classes: int = 1000,
                 transformer=None):
        super().__init__(transformer)
        self.files = sorted(os.path.join(folder, f) for f in os.listdir(folder)) if folder else []
        self.count = len(self.files) or count
        self.labels = np.random.default_rng(0).integers(0, num_classes, self.count)
        self.synthetic = np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8)
        self.turn = None

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if self.turn is not None:
            self.turn.wait()
        if not self.files:
            return {"input_data": self.synthetic, "target_data": int(self.labels[index])}
        image = cv2.cvtColor(cv2.imread(self.files[index], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        results = self.data_pipeline({"img": image, "img_fields": ["img"], "color_fields": ["img"]})
        return {"input_data": results["img"], "target_data": int(self.labels[index])}


class Turns:
    """Which loop's loader workers may load: two multiprocessing Events, ``engine`` and
    ``hand``, one per loop's dataset, inherited by that loop's workers.

    Why: the loops take turns of ``--chunk`` steps. Had the waiting loop's workers kept
    loading, each turn would start with ``workers x prefetch_factor`` batches ready (24
    at the GPU defaults, more than a 10-step turn takes): the JPEG rows would time the
    device alone, not the input pipeline they are there to measure, and both worker
    pools would share the CPU cores. Paused, a loop starts each turn with what its
    workers had ready when its previous turn ended, as a loop training alone has."""

    def __init__(self):
        context = multiprocessing.get_context(worker_start_method())  # the loaders' own
        self.engine, self.hand = context.Event(), context.Event()
        self.engine.set()

    @contextmanager
    def hand_turn(self):
        """The hand loop's workers load, the engine's wait; the other way round after."""
        self.engine.clear()
        self.hand.set()
        try:
            yield
        finally:
            self.hand.clear()
            self.engine.set()

    def release(self) -> None:
        """Both load (before the loaders shut down: a waiting worker would not stop)."""
        self.engine.set()
        self.hand.set()


@BUILD_NETWORK_REGISTRY.register()
def ThroughputResNet(arch: str = "resnet50", num_classes: int = 1000):  # noqa: N802 (a registry name)
    """torchvision's ResNet, random init."""
    return getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)


@BUILD_MODEL_REGISTRY.register()
class ThroughputClassifier(BaseModel):
    def run_step(self, data, *, epoch=None, **kwargs):
        images = data["input_data"].to(self.device, non_blocking=True)
        labels = data["target_data"].to(self.device, non_blocking=True)
        return F.cross_entropy(self.g_model(images), labels)

    def generator(self, data):
        return self.g_model(data.to(self.device, non_blocking=True))


def fast_collate(samples):
    """timm's fast_collate: H x W x C uint8 arrays stacked into one B x C x H x W uint8 tensor."""
    images = torch.from_numpy(np.stack([s["input_data"] for s in samples])).permute(0, 3, 1, 2)
    return images, torch.tensor([s["target_data"] for s in samples])


class PrefetchLoader:
    """timm's PrefetchLoader: the next batch copied and normalised on a side stream."""

    def __init__(self, loader, device, channels_last: bool):
        self.loader, self.device = loader, device
        self.format = torch.channels_last if channels_last else torch.contiguous_format
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
        self.stream = torch.cuda.Stream() if device.type == "cuda" else None

    def _prepare(self, images, labels):
        images = images.to(self.device, non_blocking=True)
        images = images.to(dtype=torch.float32, memory_format=self.format).sub_(self.mean).div_(self.std)
        return images, labels.to(self.device, non_blocking=True)

    def __iter__(self):
        first, ready = True, None
        for images, labels in self.loader:
            if self.stream is None:
                batch = self._prepare(images, labels)
            else:
                with torch.cuda.stream(self.stream):
                    batch = self._prepare(images, labels)
            if not first:
                yield ready
            else:
                first = False
            if self.stream is not None:
                torch.cuda.current_stream().wait_stream(self.stream)
                for tensor in batch:
                    tensor.record_stream(torch.cuda.current_stream())
            ready = batch
        yield ready


class HandLoop:
    """The timm-style loop: SGD with momentum, autocast (float16: with a ``GradScaler``, as
    timm's ``NativeScaler``), optional channels_last and compile.

    ``compile_kwargs``: None (eager) or the ``nn.Module.compile`` keyword arguments, those of
    ``network_compile_options`` for the engine's variant; the network is compiled in
    place, as the engine compiles its own."""

    def __init__(self, dataset, *, arch, batch_size, workers, device, compile_kwargs: Optional[dict],
                 channels_last, amp_dtype, lr, seed=0):
        torch.manual_seed(seed)
        self.device = device
        self.net = ThroughputResNet(arch).to(device)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if compile_kwargs is not None:
            self.net.compile(**compile_kwargs)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
        self.amp_dtype = amp_dtype
        # float16 needs loss scaling (the engine's bundle has a GradScaler then, too); torch's
        # defaults are the engine's (solver.amp.init_scale 65536, growth_interval 2000)
        self.scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
        # one endless shuffled pass, as the engine's sampler: a few hundred images would
        # otherwise end an epoch every few steps, restarting the prefetcher each time
        sampler = torch.utils.data.RandomSampler(dataset, num_samples=len(dataset) * 10**6,
                                                 generator=torch.Generator().manual_seed(seed))
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, drop_last=True, num_workers=workers,
            collate_fn=fast_collate, pin_memory=device.type == "cuda", persistent_workers=workers > 0,
            multiprocessing_context=worker_start_method() if workers > 0 else None)  # the engine's
        self.loader, self.channels_last, self.batches = loader, channels_last, None
        self.last_loss = None
        # the workers start now, before the engine's loader starts its own and before anything
        # is timed: a process forked after the engine's warm-up would share its heap
        # copy-on-write, and the engine's next step would pay a page copy for every page it
        # writes (436 ms against 60 for a ResNet-18 step on the CPU)
        self.source = iter(loader)

    def _next(self):
        while True:
            if self.batches is None:
                self.batches = iter(PrefetchLoader(self.source, self.device, self.channels_last))
            try:
                return next(self.batches)
            except StopIteration:
                self.batches, self.source = None, iter(self.loader)

    def steps(self, n: int) -> None:
        for _ in range(n):
            images, labels = self._next()
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype != torch.float32):
                loss = F.cross_entropy(self.net(images), labels)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is None:
                loss.backward()
                self.optimizer.step()
            else:  # timm's NativeScaler: scaled backward, step (unscale, inf check, skip), update
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            self.last_loss = loss.detach()  # read at the end only, as timm logs every N steps

    def close(self) -> None:
        self.batches = self.source = None
