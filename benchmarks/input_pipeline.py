"""JPEG decode + augment: the engine's training input pipeline against torchvision's
ImageNet-example loader, on the same files, in images/s per core (issue 23 item 5).

The files: ``--images`` JPEGs of ImageNet's typical size (500 x 375, quality 90, smooth
colour fields with noise: ``throughput_parts.write_jpegs``), written into 4 class
folders (``root/c0 .. c3``), the layout both ``ImageFolder`` datasets read.

Each side, per sample: read the file, decode it to RGB, RandomResizedCrop to 224 x 224
(scale 0.08-1, ratio 3/4-4/3, bilinear), horizontal flip with p 0.5, then

* ``float`` output (the default pipelines): normalise with ImageNet's mean/std and make
  a 3 x 224 x 224 float32 tensor; batches of B x 3 x 224 x 224 float32;
* ``uint8`` output (the engine's ``dataloader.device_normalize``, timm's fast path):
  stop at a 3 x 224 x 224 uint8 tensor; batches of B x 3 x 224 x 224 uint8. The
  normalisation then runs on the GPU and is timed on neither side.

The engine (what a training run executes): ``ImageFolderDataset(root, transformer=[...])``
(``np.fromfile`` + ``cv2.imdecode``, BGR -> RGB) built into the training loader by
``engine.data.build.build_train_loader`` from a default config: ``SeededSamples`` (each
sample's generator keyed by (seed, epoch, index)), ``TrainBatchSampler`` (the endless
seeded order), ``EngineLoader`` (batch fetched through ``__getitems__``, batch check)
and torch's ``default_collate``. Its pipeline is ``RandomResizedCrop(size=224)``
(cv2.resize INTER_LINEAR), ``RandomFlip(direction='horizontal', p=0.5)``, and for
``float`` ``Normalize()`` (a per-channel uint8 -> float32 table) + ``ToTensor()``. For
``uint8`` the config sets ``dataloader.device_normalize`` (mean/std), so the loader's
collate is the engine's ``Uint8Collate``, the pipeline has no Normalize/ToTensor, and
``ImageFolderDataset`` (told by the loader: its ``device_normalize``) leaves the image a
C x H x W uint8 tensor; the loader's
``DevicePrefetcher`` (the copy and normalisation on the device) is taken off, as the
GPU's work is not timed.

torchvision (the ImageNet example, ``transforms`` v1): ``torchvision.datasets.ImageFolder(
root, Compose([RandomResizedCrop(224), RandomHorizontalFlip(), ToTensor(), Normalize(mean,
std)]))`` (PIL decode, ``Image.open(f).convert('RGB')``; RandomResizedCrop is PIL's crop
+ bilinear resize) through ``torch.utils.data.DataLoader`` with a seeded ``RandomSampler``
and ``default_collate``; for ``uint8``, ``PILToTensor()`` replaces ToTensor + Normalize.
The ``v2`` side (``--sides``) is torchvision.transforms.v2 as its documentation advises
for speed: the PIL image made a uint8 tensor first (``ToImage``), then
``RandomResizedCrop(224)`` (tensor bilinear, antialias) and ``RandomHorizontalFlip`` on
it, and for ``float`` ``ToDtype(float32, scale=True)`` + ``Normalize``.

Both decoders are libjpeg-turbo: the script prints the largest pixel difference between
the engine's and PIL's RGB decode of the first file (0 here: the same pixels). One
difference in the work done: PIL's (and v2's) bilinear resize antialiases when it
shrinks (its filter widens with the scale factor), OpenCV's INTER_LINEAR does not (it
reads 2 x 2 pixels whatever the scale). ``--engine-interpolation INTER_AREA`` times the
engine with OpenCV's antialiasing choice for shrinking.

Timing, as ``augment.py``: one process, single-threaded (``cv2.setNumThreads(0)``,
``torch.set_num_threads(1)``), both loaders over the same files. A round loads
``--images // --batch-size`` batches from each side in turn (engine, torchvision, v2;
the order reversed every other round, so a slow spell of a shared machine hits both),
from a fresh iterator that continues the side's sample stream. An untimed round first
(page cache, lazy imports). ``--clock cpu`` (the default): this process's CPU seconds
(``time.process_time``), which does not count the time a shared machine's neighbours
hold the core (their cache and SMT traffic still moves it by 10-20 % a round); images/s
per core = images / CPU seconds. ``--num-workers N`` loads through N worker processes
(fork) instead: the clock is then the wall clock (images/s, as training sees it), and
the CPU seconds of the main process plus its reaped workers (``RUSAGE_CHILDREN``, read
after each round's workers were joined) give the per-core figure. The ratio per round
is engine / torchvision (v1) images/s (and engine / v2); the median and the worst round
are reported.

Run from the repository root (the numbers in doc/benchmarks.md)::

    python benchmarks/input_pipeline.py                   # float and uint8: ~1.5 minutes on 2 cores
    python benchmarks/input_pipeline.py --json /tmp/input_pipeline.json
    python benchmarks/input_pipeline.py --outputs float --sides engine torchvision --rounds 3
    python benchmarks/input_pipeline.py --num-workers 2 --clock wall
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import PIL
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.config import get_cfg  # noqa: E402
from engine.data.build import build_train_loader  # noqa: E402
from engine.data.datasets.image_folder import ImageFolderDataset  # noqa: E402
from throughput_parts import MEAN, STD, write_jpegs  # noqa: E402

SIZE = 224
CLASSES = 4
SIDES = ("engine", "torchvision", "v2")
OUTPUTS = ("float", "uint8")


def write_folder(root: str, images: int) -> str:
    """``images`` JPEGs spread over CLASSES class folders (each class its own seed)."""
    per_class = [images // CLASSES + (k < images % CLASSES) for k in range(CLASSES)]
    for k, count in enumerate(per_class):
        write_jpegs(os.path.join(root, f"c{k}"), count, seed=k)
    return root


def engine_side(root: str, output: str, args):
    """``make(round) -> iterator of batches``: the training loader that ``build_train_loader``
    builds, continuing its stream at the round's first batch."""
    augment = [dict(name="RandomResizedCrop", size=SIZE, interpolation=args.engine_interpolation),
               dict(name="RandomFlip", direction="horizontal", p=0.5)]
    cfg = get_cfg()
    cfg.SEED = 0
    cfg.SOLVER.TRAIN_PER_BATCH = args.batch_size
    cfg.DATALOADER.NUM_WORKERS = args.num_workers
    if output == "float":
        dataset = ImageFolderDataset(root, transformer=augment + [dict(name="Normalize", mean=MEAN, std=STD),
                                                                  dict(name="ToTensor")])
    else:
        dataset = ImageFolderDataset(root, transformer=augment)
        cfg.DATALOADER.DEVICE_NORMALIZE.MEAN = list(MEAN)
        cfg.DATALOADER.DEVICE_NORMALIZE.STD = list(STD)
    per_round = args.images // args.batch_size

    def make(round_: int):
        loader, _ = build_train_loader(dataset, cfg, start_iter=round_ * per_round, device=torch.device("cpu"))
        if output == "uint8":
            assert loader.device_stage is not None and loader.device_stage.normalizes
            loader.device_stage = None  # the copy + normalisation are the GPU's, not timed
        return iter(loader)

    def unpack(batch):
        return batch["input_data"], batch["target_data"]
    return make, unpack


def torchvision_side(root: str, output: str, args, v2: bool):
    if v2:
        from torchvision.transforms import v2 as T
        steps = [T.ToImage(), T.RandomResizedCrop(SIZE), T.RandomHorizontalFlip()]
        if output == "float":
            steps += [T.ToDtype(torch.float32, scale=True),
                      T.Normalize([m / 255 for m in MEAN], [s / 255 for s in STD])]
    else:
        from torchvision import transforms as T
        steps = [T.RandomResizedCrop(SIZE), T.RandomHorizontalFlip()]
        steps += ([T.ToTensor(), T.Normalize([m / 255 for m in MEAN], [s / 255 for s in STD])]
                  if output == "float" else [T.PILToTensor()])
    dataset = torchvision.datasets.ImageFolder(root, T.Compose(steps))
    per_round = args.images // args.batch_size

    def make(round_: int):
        # the transforms draw from torch's global generator (seeded per round, as the
        # sampler's): every round sees other crops, as the engine's stream does
        torch.manual_seed(1000 + round_)
        sampler = torch.utils.data.RandomSampler(dataset, num_samples=per_round * args.batch_size,
                                                 generator=torch.Generator().manual_seed(round_))
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=args.batch_size, sampler=sampler, drop_last=True, num_workers=args.num_workers,
            multiprocessing_context="fork" if args.num_workers else None)
        return iter(loader)

    def unpack(batch):
        return batch[0], batch[1]
    return make, unpack


def decoders_differ(root: str) -> int:
    """The largest |engine - PIL| pixel difference of the first file decoded to RGB by both
    (0: the same libjpeg-turbo IDCT, the same pixels: the sides start from equal images)."""
    from PIL import Image

    from engine.data.datasets.reading import read_image

    path = ImageFolderDataset(root).samples[0][0]
    with Image.open(path) as image:
        theirs = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int(np.abs(read_image(path, "input_pipeline.py").astype(np.int16) - theirs).max())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_round(make, unpack, round_: int, batches: int, clock, shapes: list) -> tuple:
    """(seconds on ``clock``, CPU seconds of this process and its reaped workers) to load
    ``batches`` batches from a fresh iterator, its workers joined."""
    wall0, cpu0 = clock(), time.process_time() + children_cpu()
    iterator = make(round_)
    for _ in range(batches):
        images, labels = unpack(next(iterator))
    close = getattr(iterator, "close", None)  # the engine's: stops its workers now
    if close is not None:
        close()
    del iterator  # torch's: __del__ joins its workers
    seconds, cpu = clock() - wall0, time.process_time() + children_cpu() - cpu0
    shapes.append((tuple(images.shape), images.dtype, tuple(labels.shape), labels.dtype))
    return seconds, cpu


def check_batches(output: str, shapes: dict, batch_size: int) -> None:
    """Every side's batches: B x 3 x 224 x 224 of the output's dtype, B int64 labels."""
    dtype = torch.float32 if output == "float" else torch.uint8
    want = ((batch_size, 3, SIZE, SIZE), dtype, (batch_size,), torch.int64)
    for side, seen in shapes.items():
        assert all(s == want for s in seen), f"{output}: {side} made {seen[0]}, expected {want}"


def measure(root: str, output: str, sides, args) -> dict:
    clock = time.process_time if args.clock == "cpu" and not args.num_workers else time.perf_counter
    loaders = {}
    for side in sides:
        if side == "engine":
            loaders[side] = engine_side(root, output, args)
        else:
            loaders[side] = torchvision_side(root, output, args, v2=side == "v2")
    batches = args.images // args.batch_size
    images = batches * args.batch_size
    shapes = {side: [] for side in sides}
    for side in sides:  # untimed: page cache, first calls
        time_round(*loaders[side], 0, batches, clock, shapes[side])
    rate = {side: [] for side in sides}
    per_core = {side: [] for side in sides}
    for r in range(1, args.rounds + 1):
        for side in (sides if r % 2 else sides[::-1]):
            seconds, cpu = time_round(*loaders[side], r, batches, clock, shapes[side])
            rate[side].append(images / seconds)
            per_core[side].append(images / cpu)
    check_batches(output, shapes, args.batch_size)
    row = {"output": output, "images_per_round": images, "rate": rate, "per_core": per_core,
           "median_rate": {s: statistics.median(v) for s, v in rate.items()},
           "median_per_core": {s: statistics.median(v) for s, v in per_core.items()}}
    if "engine" in sides:
        for other in sides:
            if other != "engine":
                ratios = [e / o for e, o in zip(rate["engine"], rate[other])]
                row[f"ratio_{other}"] = {"rounds": ratios, "median": statistics.median(ratios),
                                         "worst": min(ratios)}
    return row


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "pillow": PIL.__version__, "opencv": cv2.__version__,
            "numpy": np.__version__, "cpu": _cpu_name(), "cpus": os.cpu_count()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512, help="JPEGs written (and loaded per round per side)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--outputs", nargs="+", choices=OUTPUTS, default=list(OUTPUTS))
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES),
                        help="engine, torchvision (transforms v1, the reference of the ratio), v2")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="0: loading in this process (per-core figures on the CPU clock); N: N workers")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: this process's CPU time (num_workers 0 only; with workers the wall clock)")
    parser.add_argument("--engine-interpolation", default="INTER_LINEAR",
                        help="the engine's RandomResizedCrop interpolation (INTER_AREA: antialiased shrinking)")
    parser.add_argument("--data", help="the image folder (written if missing); default a temporary one")
    parser.add_argument("--json", help="write every timing here")
    args = parser.parse_args(argv)
    if args.images < args.batch_size:
        parser.error("--images must be at least --batch-size")
    cv2.setNumThreads(0)
    cv2.ocl.setUseOpenCL(False)
    torch.set_num_threads(1)
    sides = [s for s in SIDES if s in args.sides]
    info = versions()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in load_before)}")
    temporary = None if args.data else tempfile.mkdtemp(prefix="input_pipeline_")
    root = args.data or temporary
    clock = "cpu" if args.clock == "cpu" and not args.num_workers else "wall"
    rows = []
    try:
        if not os.path.isdir(root) or temporary:
            write_folder(root, args.images)
        decode_diff = decoders_differ(root)
        print(f"decoded RGB, engine (cv2.imdecode) against PIL: largest pixel difference {decode_diff}")
        print(f"{args.images} JPEGs 500x375 in {CLASSES} classes, batch {args.batch_size}, {args.rounds} rounds, "
              f"num_workers {args.num_workers}, {clock} clock")
        for output in args.outputs:
            row = measure(root, output, sides, args)
            rows.append(row)
            print(_line(row, args.num_workers), flush=True)
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    load = os.getloadavg()
    print(f"load average after: {' '.join(f'{v:.2f}' for v in load)}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"args": vars(args), "clock": clock, "versions": info, "load_before": load_before, "load_after": load,
             "decode_max_difference": decode_diff, "rows": rows}, indent=1))
    return rows


def _line(row, workers: int) -> str:
    text = f"{row['output']:<5}"
    for side, value in row["median_per_core"].items():
        text += f"  {side} {value:6.1f} img/s/core"
        if workers:
            text += f" ({row['median_rate'][side]:6.1f} img/s)"
    for key in ("ratio_torchvision", "ratio_v2"):
        if key in row:
            text += f"  engine/{key[6:]} {row[key]['median']:.2f}x (worst {row[key]['worst']:.2f}x)"
    return text


if __name__ == "__main__":
    main()
