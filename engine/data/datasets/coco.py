"""COCO json (boxes, categories, instance masks) as an EngineDataSet for detection.

The annotations are read and checked once (:mod:`.coco_annotations`); a sample is its
image, boxes ``x1, y1, x2, y2`` in pixels (``bbox``, ``bbox_fields``) with their class
indices (``labels``) and, with ``with_masks``, one binary mask per box decoded from its
polygons or RLE by pycocotools. Every transform moves them together:

- the masks are one H x W x N array, ``gt_masks``, in ``mask_fields`` (nearest
  neighbours, never normalised, padded with 0 whatever the transform's fill);
- ``instance_ids`` (0..N-1) follows the boxes in ``bbox_label_fields``, so when a crop
  or an affine transform removes a box, the same mask is removed: after the pipeline
  the masks are the kept ids' channels, in box order.

Masks cannot be mixed across samples (MosaicTransform): refused when the dataset is built.
"""
import os
import warnings
from typing import List, Optional

import numpy as np
import torch

from engine.utils.errors import ConfigError, EngineError

from ..build import BUILD_DATASET_REGISTRY
from ..dataset import EngineDataSet
from .coco_annotations import CROWD_MODES, read_coco
from .collate import detection_collate
from .reading import check_color_type, check_exists, image_results, image_tensor, read_image

__all__ = ["CocoDataset", "decode_masks"]


def decode_masks(segms: list, height: int, width: int, where: str, ann_ids: list) -> np.ndarray:
    """H x W x N uint8 (0/1) from COCO polygons / RLEs, decoded as pycocotools'
    ``COCO.annToMask`` decodes them; a segmentation pycocotools refuses is named by its annotation id."""
    from pycocotools import mask as mask_utils

    masks = np.zeros((height, width, len(segms)), np.uint8)
    for k, (segm, ann_id) in enumerate(zip(segms, ann_ids)):
        try:
            if isinstance(segm, dict) and not isinstance(segm["counts"], list):
                rle = dict(segm)  # a compressed RLE is decoded as it is
            else:  # polygons (merged into one region) or an uncompressed RLE
                rles = mask_utils.frPyObjects(segm, height, width)
                rle = mask_utils.merge(rles) if isinstance(rles, list) else rles
            with warnings.catch_warnings():  # pycocotools 2.0.x under numpy 2, harmless
                warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                masks[:, :, k] = mask_utils.decode(rle)
        except Exception as e:  # noqa: BLE001 - pycocotools raises bare TypeError/ValueError
            raise EngineError(f"{where}: annotation id {ann_id}: cannot decode its 'segmentation': {e}") from None
    return masks


def _refuse_mixing(transforms) -> None:
    """Instance masks cannot go through a transform that mixes samples (``bind_dataset``:
    MosaicTransform): each sample's masks are one H x W x N array, and N differs between
    the samples of a mosaic, so their canvas would have no consistent channels."""
    for t in getattr(transforms, "transforms", None) or []:
        if hasattr(t, "bind_dataset"):
            raise ConfigError(f"CocoDataset: with_masks=True cannot go through {type(t).__name__}, which "
                              f"mixes samples with different numbers of instance masks; leave it out or "
                              f"train boxes only (with_masks=False)")
        _refuse_mixing(t)


@BUILD_DATASET_REGISTRY.register()
class CocoDataset(EngineDataSet):
    """Samples ``{'input_data', 'bbox' (N x 4 float32), 'labels' (N int64), 'image_id'}``
    plus ``masks`` (N x H x W uint8) with ``with_masks`` and ``bbox_ignore`` (M x 4) with
    ``crowd='separate'``; :meth:`collate_fn` keeps the per-image fields as lists, as
    ``DetectionEvaluator`` reads them.

    - ``img_dir``: the folder of the json's ``file_name`` entries;
    - ``classes`` (attribute): the category names, label ``i`` = ``classes[i]``;
      ``cat_ids[i]`` is its id in the file;
    - ``crowd``: 'drop' (default) or 'separate' (see :data:`CROWD_MODES`);
    - ``filter_empty``: leave out images with no (non-crowd) box, for training; keep
      them (the default) to evaluate, where a detection on them is a false positive;
    - ``check_files``: look for every image when the dataset is built.

    An image whose size is not the json's ``width`` x ``height`` is an error: its boxes
    and masks would not be where the file says.
    """

    collate_fn = staticmethod(detection_collate)

    def __init__(self, img_dir: str, ann_file: str, transformer: Optional[List] = None, with_masks: bool = False,
                 crowd: str = "drop", filter_empty: bool = False, color_type: str = "color",
                 check_files: bool = True):
        super().__init__(transformer)
        if crowd not in CROWD_MODES:
            raise ConfigError(f"CocoDataset: crowd must be one of {list(CROWD_MODES)}, got {crowd!r}")
        self.img_dir, self.ann_file = str(img_dir), str(ann_file)
        self.with_masks, self.crowd = bool(with_masks), crowd
        self.color_type = check_color_type("CocoDataset", color_type)
        if self.with_masks:
            _refuse_mixing(self.pipeline)
        coco = read_coco(self.ann_file, self.with_masks, crowd)
        self.cat_ids, self.classes = coco["cat_ids"], coco["classes"]
        self.images = [r for r in coco["images"] if len(r["boxes"]) or not filter_empty]
        if not self.images:
            raise EngineError(f"CocoDataset: {self.ann_file} has no image"
                              f"{' with a box (filter_empty=True)' if filter_empty else ''}")
        if check_files:
            for record in self.images:
                check_exists(self._path(record), self._where(record))

    def _path(self, record: dict) -> str:
        return os.path.join(self.img_dir, record["file_name"])

    def _where(self, record: dict) -> str:
        return f"CocoDataset: {self.ann_file}: image id {record['id']}"

    def __len__(self):
        return len(self.images)

    def describe_sample(self, index: int) -> str:
        return f"{self._path(self.images[index])}, image id {self.images[index]['id']}"

    def load_results(self, index: int) -> dict:
        record = self.images[index]
        path, where = self._path(record), self._where(record)
        img = read_image(path, where, self.color_type)
        if img.shape[:2] != (record["height"], record["width"]):
            raise EngineError(f"{where}: the image {path} is {img.shape[1]}x{img.shape[0]} but the json says "
                              f"{record['width']}x{record['height']} (width x height)")
        results = image_results(img, path)
        count = len(record["boxes"])
        results.update({"bbox": record["boxes"].copy(), "labels": record["labels"].copy(),
                        "instance_ids": np.arange(count), "bbox_fields": ["bbox"],
                        "bbox_label_fields": {"bbox": ["labels", "instance_ids"]}, "image_id": record["id"]})
        if self.crowd == "separate":
            results["bbox_ignore"] = record["crowd"].copy()
            results["bbox_fields"].append("bbox_ignore")
        if self.with_masks and count:  # an H x W x 0 array would stop OpenCV: no masks, no field
            results["gt_masks"] = decode_masks(record["segms"], record["height"], record["width"], where,
                                               record["ann_ids"])
            results.update(img_fields=["img", "gt_masks"], mask_fields=["gt_masks"], pad_value={"gt_masks": 0})
        return results

    def __getitem__(self, index):
        results = self.data_pipeline(self.load_results(index))
        image = image_tensor(results["img"], self.device_normalize)
        sample = {"input_data": image,
                  "bbox": torch.as_tensor(np.asarray(results["bbox"], np.float32).reshape(-1, 4)),
                  "labels": torch.as_tensor(np.asarray(results["labels"], np.int64).reshape(-1)),
                  "image_id": self.images[index]["id"]}
        if self.crowd == "separate":
            sample["bbox_ignore"] = torch.as_tensor(np.asarray(results["bbox_ignore"], np.float32).reshape(-1, 4))
        if self.with_masks:
            sample["masks"] = self._masks(results, image.shape[-2:])
        return sample

    @staticmethod
    def _masks(results: dict, size) -> torch.Tensor:
        """N x H x W uint8: the channels of the boxes the pipeline kept, in their order."""
        ids = np.asarray(results["instance_ids"], np.int64).reshape(-1)
        if "gt_masks" not in results or not len(ids):
            return torch.zeros((len(ids), int(size[0]), int(size[1])), dtype=torch.uint8)
        masks = torch.as_tensor(np.asarray(results["gt_masks"]))
        if masks.dim() == 2:
            masks = masks[:, :, None]
        return masks[:, :, torch.from_numpy(ids)].permute(2, 0, 1).to(torch.uint8).contiguous()
