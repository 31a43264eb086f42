"""Predictor: a trained model as a function from images to the model's outputs.

    predictor = Predictor.from_run("output/digits")          # config.yaml + newest checkpoint
    logits = predictor(["a.png", rgb_array])                # the model's generator outputs
    classes = predictor.postprocess(["a.png"])              # model.postprocess(outputs), if defined

Each image (an RGB uint8 H x W x 3 array, a grey H x W one, or a path, read as stored:
a grey PNG gives H x W, a colour one RGB; then made what the validation dataset's
``color_type`` reads, when it has one: RGB for 'color', grey for 'grayscale') goes through the config's validation pipeline
(``dataloader.val_data_set.transformer``) in a results dict as the datasets build it
(``img``, ``img_shape``, ``ori_shape``, ``img_fields``, ``color_fields``); the images are
stacked ``solver.test_per_batch`` at a time and given to ``model.generator`` under
``model.inference_weights()`` (the EMA network when EMA is on), exactly as evaluation
calls the model. Outputs of the batches are concatenated along dimension 0 (tensors,
and tuples/lists/dicts of tensors). Weights: the one rule of engine/checkpoint/evaluated.py;
``predictor.weights_used`` says which were loaded. The project's components come from the
config's ``custom_imports`` (a run's config.yaml records them): no import of one's own.

Bad input is one :class:`EngineError`, never a torch error from deep inside: an image
that is not uint8 H x W / H x W x 3 (RGBA arrays: drop the alpha), an empty one (0 x 0),
images the network cannot take (a colour image for a grey network: the message names
the tensor's shape and the channels the first layer takes), ``batch_size`` < 1.
"""
import os
from typing import Any, List, Optional, Sequence

import cv2
import numpy as np
import torch

from ..checkpoint.names import LAST_CHECKPOINT
from ..utils.errors import EngineError
from .checked_call import run_on_input
from .loading import inference_network, load_trained_model

__all__ = ["Predictor", "read_image", "newest_checkpoint"]


def read_image(path: str) -> np.ndarray:
    """An image file as stored: H x W (grey) or RGB H x W x 3 (alpha dropped), uint8."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if os.path.isfile(str(path)) else None
    if img is None:
        raise EngineError(f"cannot read the image {path!r} (missing, or not an image OpenCV reads)")
    if img.dtype != np.uint8:
        raise EngineError(f"{path!r}: expected an 8-bit image, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
    return img


def newest_checkpoint(run_dir: str, checkpoint: Optional[str] = None) -> str:
    """``checkpoint`` (a path, or a file name in RUN/checkpoints), else the one
    ``last_checkpoint`` names, else the newest ``*.pth`` of RUN/checkpoints."""
    folder = os.path.join(run_dir, "checkpoints")
    if checkpoint:
        path = checkpoint if os.path.exists(checkpoint) else os.path.join(folder, checkpoint)
        if not os.path.exists(path):  # a file, or a distributed checkpoint's folder (trainer.fsdp)
            raise EngineError(f"checkpoint {checkpoint!r} not found (nor in {folder})")
        return path
    marker = os.path.join(folder, LAST_CHECKPOINT)
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            path = os.path.join(folder, f.read().strip())
        if os.path.exists(path):
            return path
    files = [os.path.join(folder, n) for n in os.listdir(folder)] if os.path.isdir(folder) else []
    files = [p for p in files if p.endswith(".pth") and not os.path.basename(p).startswith(".")]
    if not files:
        raise EngineError(f"no checkpoint in {folder}")
    return max(files, key=os.path.getmtime)


def dataset_color_type(node) -> Optional[str]:
    """How the validation dataset reads images: its ``color_type`` ('color': RGB, grey
    files repeated over 3 channels; 'grayscale'), as configured or its default (the
    built-in datasets), so that a Predictor image reaches the network as the validation
    images did; None for a dataset without one (images then go in as given)."""
    import inspect

    from ..data.build import BUILD_DATASET_REGISTRY

    cls = BUILD_DATASET_REGISTRY._obj_map.get((node or {}).get("NAME") or "")
    try:
        param = inspect.signature(cls).parameters.get("color_type") if cls is not None else None
    except (TypeError, ValueError):
        param = None
    if param is None:
        return None
    value = node.get("COLOR_TYPE", param.default)
    return value if value in ("color", "grayscale") else None


def _concat(parts: List[Any]):
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts, 0)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, tuple):
        return tuple(_concat(list(p)) for p in zip(*parts))
    if isinstance(first, list):
        return [x for p in parts for x in p]
    raise EngineError(f"Predictor: cannot join the generator's outputs of type {type(first).__name__} "
                      f"over batches; give at most solver.test_per_batch images")


class Predictor:
    def __init__(self, cfg, model, weights_used: str = "", batch_size: Optional[int] = None):
        from ..transforms.build import build_transforms

        self.cfg, self.model, self.weights_used = cfg, model, weights_used
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise EngineError(f"Predictor: batch_size must be a whole number >= 1 (images per forward "
                              f"pass), got {batch_size!r}")
        self.batch_size = int(batch_size or cfg.SOLVER.TEST_PER_BATCH)
        node = cfg.DATALOADER.VAL_DATA_SET
        self.pipeline = build_transforms(node.get("TRANSFORMER"), "dataloader.val_data_set.transformer")
        self.color_type = dataset_color_type(node)

    @classmethod
    def from_config(cls, config_file: str, weights: str, device: Optional[str] = None, *,
                    no_ema: bool = False, overrides: Sequence[str] = (), batch_size: Optional[int] = None):
        cfg, model, used = load_trained_model(config_file, weights, device=device, no_ema=no_ema,
                                              overrides=overrides)
        return cls(cfg, model, used, batch_size)

    @classmethod
    def from_run(cls, run_dir: str, checkpoint: Optional[str] = None, device: Optional[str] = None, **kwargs):
        """The run folder's ``config.yaml`` and its newest (or the named) checkpoint."""
        config = os.path.join(run_dir, "config.yaml")
        if not os.path.isfile(config):
            raise EngineError(f"{run_dir!r} is not a run folder: it has no config.yaml")
        return cls.from_config(config, newest_checkpoint(run_dir, checkpoint), device, **kwargs)

    def preprocess(self, image) -> torch.Tensor:
        """One image through the validation pipeline, as a C x H x W tensor."""
        import engine.transforms.functional as F

        img = read_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
            alpha = " (RGBA: drop the alpha channel, img[..., :3])" if img.ndim == 3 and img.shape[2] == 4 else ""
            raise EngineError(f"Predictor: expected uint8 H x W or H x W x 3 images, got {img.dtype} "
                              f"{img.shape}{alpha}")
        if min(img.shape[:2]) == 0:
            raise EngineError(f"Predictor: an empty image ({img.shape[0]} x {img.shape[1]} pixels)")
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        if self.color_type == "color" and img.ndim == 2:  # as the dataset reads a grey file
            img = np.repeat(img[:, :, None], 3, axis=2)
        elif self.color_type == "grayscale" and img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        results = {"img": img, "img_shape": img.shape[:2], "ori_shape": img.shape[:2],
                   "img_fields": ["img"], "color_fields": ["img"]}
        out = self.pipeline(results, np.random.default_rng(0))["img"]
        return out if isinstance(out, torch.Tensor) else F.to_tensor(out)

    def __call__(self, images):
        """The model's generator outputs for ``images`` (a list, or one image)."""
        if not isinstance(images, (list, tuple)):
            images = [images]
        if not images:
            raise EngineError("Predictor: no images given")
        parts = []
        with self.model.inference_weights():
            for start in range(0, len(images), self.batch_size):
                batch = torch.stack([self.preprocess(i) for i in images[start:start + self.batch_size]])
                parts.append(run_on_input(self.model.generator, [batch], "Predictor",
                                          inference_network(self.model), "; give images like the training "
                                          "set's (grey H x W for a 1-channel network, RGB H x W x 3 for 3)"))
        return _concat(parts)

    def postprocess(self, images):
        """``model.postprocess(outputs)``: decoded results (classes, masks, boxes)."""
        hook = getattr(self.model, "postprocess", None)
        if hook is None:
            raise EngineError(f"{type(self.model).__name__} has no postprocess(outputs) method; "
                              f"use predictor(images) for the raw outputs")
        return hook(self(images))
