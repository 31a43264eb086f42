"""Digit scenes (:mod:`.scenes`) as an EngineDataSet, for segmentation or detection.

The scene's arrays go through the configured pipeline as one results dict (image and
mask in ``img_fields``, boxes in ``bbox_fields`` with their labels), so every spatial
transform moves them together. What comes out depends on ``task``:

- ``'segmentation'``: ``input_data`` (3 x H x W float) and ``target_data`` (H x W int64
  class map, 0 = background, 1 + digit);
- ``'detection'``: ``input_data``, ``bbox`` (N x 4 float32, x1 y1 x2 y2 pixels) and
  ``labels`` (N int64 digits); the boxes' count varies, so :meth:`collate_fn` stacks the
  images and keeps boxes and labels as per-image lists (what ``DetectionEvaluator`` reads).

:meth:`load_results` gives a scene before augmentation, so ``MosaicTransform`` can draw
its partner scenes itself (reproducibly: see doc/dataset.md).
"""
from typing import List, Optional

import numpy as np
import torch
from torch.utils.data import default_collate

import engine.transforms.functional as F
from engine.data.build import BUILD_DATASET_REGISTRY
from engine.data.dataset import EngineDataSet

from .scenes import make_scene

__all__ = ["DigitScenesDataset"]

_TASKS = ("segmentation", "detection")


@BUILD_DATASET_REGISTRY.register()
class DigitScenesDataset(EngineDataSet):
    def __init__(self, split: str = "train", num_scenes: int = 2000, size: int = 64,
                 max_digits: int = 3, task: str = "segmentation", seed: int = 0,
                 transformer: Optional[List] = None):
        super().__init__(transformer)
        if task not in _TASKS:
            raise ValueError(f"DigitScenesDataset: task must be one of {list(_TASKS)}, got {task!r}")
        self.split, self.num_scenes, self.size = split, int(num_scenes), int(size)
        self.max_digits, self.task, self.seed = int(max_digits), task, int(seed)

    def __len__(self):
        return self.num_scenes

    def scene(self, index: int) -> dict:
        """The raw scene ``index`` (before augmentation)."""
        return make_scene(index, self.split, self.size, self.max_digits, seed=self.seed)

    def load_results(self, index: int) -> dict:
        scene = self.scene(index)
        return {
            **scene,
            "img_shape": scene["img"].shape[:2],
            "ori_shape": scene["img"].shape[:2],
            "img_fields": ["img", "mask"],
            "color_fields": ["img"],
            "bbox_fields": ["bbox"],
            "bbox_label_fields": ["labels"],
            "pad_value": {"img": 0, "mask": 0},
        }

    def __getitem__(self, index):
        results = self.data_pipeline(self.load_results(index))
        img = results["img"]
        image = img if isinstance(img, torch.Tensor) else F.to_tensor(np.ascontiguousarray(img))
        if self.task == "segmentation":
            mask = torch.as_tensor(np.asarray(results["mask"]), dtype=torch.int64)
            return {"input_data": image, "target_data": mask}
        return {
            "input_data": image,
            "bbox": torch.as_tensor(np.asarray(results["bbox"], np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(np.asarray(results["labels"], np.int64).reshape(-1)),
        }

    def collate_fn(self, samples):
        if self.task == "segmentation":
            return default_collate(samples)
        return {
            "input_data": torch.stack([s["input_data"] for s in samples]),
            "bbox": [s["bbox"] for s in samples],
            "labels": [s["labels"] for s in samples],
        }
