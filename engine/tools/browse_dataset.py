"""engine-browse-dataset: PNG grids of augmented samples, exactly as the trainer sees them.

    engine-browse-dataset --config-file codes/configs/digits.py --num 16
    engine-browse-dataset --config-file cfg.py --split val --output-dir browse/
    engine-browse-dataset --config-file cfg.py --epoch 3 --start 100 dataloader.num_workers 0
    python -m engine.tools.browse_dataset --config-file cfg.py

Sample i of epoch E is loaded with the seed the training loader uses for it
(engine.data.seeding.SeededSamples: seed, epoch, index), so the picture shows the same
augmentation that sample gets in training; the validation loader always uses epoch 0.
Each tile shows the first image field after the pipeline, the first mask overlaid in
colour, boxes with their labels (the first bbox_label_fields array) and points with
their indices; the caption gives the index and the sample's scalar values. Float images
outside [0, 1] (normalised) are stretched from their min..max to 0..255 for display.
Small images are enlarged (nearest neighbour) so a tile is at least --tile-size pixels.
The project's components are registered by the config's custom_imports (a run's
config.yaml lists them, doc/tools.md), every --import MODULE, and `codes` from the
current folder when there is one (as train.py does).
"""
import os
import sys
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..utils import visualize as V
from ..utils.atomic import check_writable
from ..utils.errors import ConfigError, EngineError
from .cli import import_project, parser, run_tool

__all__ = ["main", "build_parser", "load_samples", "render", "display_image", "browse"]

PER_PAGE = 64


def build_parser():
    p = parser("engine-browse-dataset", __doc__)
    p.add_argument("--config-file", required=True, help="the training config (.py or .yaml)")
    p.add_argument("--split", default="train", help="train or val (default: train)")
    p.add_argument("--num", type=int, default=16, help="how many samples (default 16)")
    p.add_argument("--start", type=int, default=0, help="index of the first sample (default 0)")
    p.add_argument("--epoch", type=int, default=0, help="the training epoch to show (default 0)")
    p.add_argument("--output-dir", default="browse", help="where the PNGs go (default ./browse)")
    p.add_argument("--cols", type=int, default=8, help="tiles per row (default 8)")
    p.add_argument("--tile-size", type=int, default=128, help="enlarge smaller images to this")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="a module registering the project's components (repeatable)")
    p.add_argument("opts", nargs="*", metavar="KEY VALUE", help="config overrides")
    return p


class _Recorder:
    """Stands in for a dataset's pipeline and keeps the last results dict it returned."""

    def __init__(self, pipeline):
        self.pipeline, self.last = pipeline, None

    def __call__(self, results, rng=None):
        self.last = self.pipeline(results, rng)
        return self.last


def load_samples(dataset, seed: int, epoch: int, indices: Sequence[int]) -> List[tuple]:
    """``(results dict after the pipeline or None, sample as the loader yields it)`` for
    each index, loaded with the training loader's seeding."""
    from ..data.seeding import SeededSamples

    samples = SeededSamples(dataset, seed)
    recorder = None
    if hasattr(dataset, "transformers"):  # an EngineDataSet's pipeline (its seed name)
        recorder = dataset.transformers = _Recorder(dataset.transformers)
    try:
        out = []
        for i in indices:
            if recorder is not None:
                recorder.last = None
            sample = samples[(epoch, int(i))]
            out.append((recorder.last if recorder is not None else None, sample))
        return out
    finally:
        if recorder is not None:
            dataset.transformers = recorder.pipeline


def display_image(img) -> np.ndarray:
    """An RGB uint8 view of an image array or a C x H x W tensor."""
    if isinstance(img, torch.Tensor):  # the C x H x W of to_tensor
        img = img.detach().cpu().numpy()
        if img.ndim == 3:
            img = img.transpose(1, 2, 0)
    img = np.asarray(img)
    if img.dtype != np.uint8:
        f = img.astype(np.float32)
        lo, hi = float(f.min()), float(f.max())
        if lo < 0.0 or hi > 1.0:
            f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
        img = f
    return V.to_rgb_uint8(img)


def _first(results: dict, getter):
    keys = getter(results)
    return keys[0] if keys else None


def _as_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def render(results: Optional[dict], sample, caption: str, tile_size: int = 128) -> np.ndarray:
    """One tile: the image, its mask, boxes and points, and ``caption``."""
    from ..transforms import fields

    if results is not None:
        img_key = _first(results, fields.image_keys)
        if img_key is None:
            raise EngineError("the pipeline's results dict has no image field to show")
        img = display_image(results[img_key])
    else:
        tensors = [v for v in (sample.values() if isinstance(sample, dict) else [sample])
                   if isinstance(v, (torch.Tensor, np.ndarray)) and np.ndim(v) >= 2]
        if not tensors:
            raise EngineError("the dataset's samples hold no image to show")
        img = display_image(tensors[0])
    h, w = img.shape[:2]
    f = max(1, int(np.ceil(tile_size / max(1, min(h, w)))))
    img = np.ascontiguousarray(img.repeat(f, axis=0).repeat(f, axis=1))
    if results is not None:
        mask_key = _first(results, fields.mask_keys)
        if mask_key is not None:
            mask = _as_numpy(results[mask_key])
            img = V.overlay_mask(img, mask.repeat(f, axis=0).repeat(f, axis=1), alpha=0.45)
        for key in fields.bbox_keys(results):
            boxes = fields.as_float_array(_as_numpy(results[key]), 4, key)
            aligned = fields.bbox_aligned_keys(results, key)
            labels = list(_as_numpy(results[aligned[0]]).reshape(-1)) if aligned else None
            img = V.draw_boxes(img, boxes[:, :4] * f, labels=labels)
        for key in fields.pts_keys(results):
            pts = fields.as_float_array(_as_numpy(results[key]), 2, key)
            img = V.draw_points(img, pts[:, :2] * f, radius=max(2, f // 2))
    return V.put_label(img, caption)


def _caption(index: int, sample) -> str:
    parts = [f"#{index}"]
    if isinstance(sample, dict):
        for k, v in sample.items():
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                parts.append(f"{k}={v}")
            elif isinstance(v, torch.Tensor) and v.numel() == 1:
                parts.append(f"{k}={v.item():g}")
    return " ".join(parts)


def browse(config_file: str, split: str = "train", num: int = 16, start: int = 0, epoch: int = 0,
           output_dir: str = "browse", cols: int = 8, tile_size: int = 128,
           overrides: Sequence[str] = ()) -> List[str]:
    """Write the grids; returns their paths."""
    from ..config.loader import load_cfg
    from ..data.build import build_dataset

    if split not in ("train", "val"):
        raise ConfigError(f"--split must be 'train' or 'val', got {split!r}")
    for name, value, low in (("--num", num, 1), ("--cols", cols, 1), ("--tile-size", tile_size, 1),
                             ("--start", start, 0), ("--epoch", epoch, 0)):
        if value < low:
            raise ConfigError(f"{name} must be >= {low}, got {value}")
    cfg = load_cfg(config_file, list(overrides))
    where = f"dataloader.{split}_data_set"
    dataset = build_dataset(cfg.DATALOADER.get(f"{split.upper()}_DATA_SET"), where)
    if dataset is None:
        raise ConfigError(f"{config_file}: {where} names no dataset")
    if start >= len(dataset):
        raise ConfigError(f"--start {start} is past the end of the {split} set ({len(dataset)} samples)")
    check_writable(output_dir, "--output-dir folder", "--output-dir")  # before any grid is drawn
    indices = list(range(start, min(len(dataset), start + num)))
    shown_epoch = epoch if split == "train" else 0
    paths = []
    for page, first in enumerate(range(0, len(indices), PER_PAGE)):
        chunk = indices[first:first + PER_PAGE]
        loaded = load_samples(dataset, int(cfg.SEED), shown_epoch, chunk)
        tiles = [render(r, s, _caption(i, s), tile_size) for i, (r, s) in zip(chunk, loaded)]
        name = f"{split}_epoch{shown_epoch}_{chunk[0]:06d}-{chunk[-1]:06d}.png"
        paths.append(V.save_png(os.path.join(output_dir, name), V.make_grid(tiles, cols, pad=4)))
    return paths


def run(args) -> None:
    import_project(args.imports)
    paths = browse(args.config_file, args.split, args.num, args.start, args.epoch,
                   args.output_dir, args.cols, args.tile_size, args.opts)
    for path in paths:
        print(path)


def main(argv=None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
