"""A COCO json read into one record per image, every entry checked on the way.

A bad entry is an error naming the file and the annotation (or image) id, found when the
dataset is built rather than deep in a run, and never silently turned into a wrong
target. What is skipped, as MMDetection skips it: boxes of zero width or height, and
annotations marked ``ignore``. Categories are numbered 0..K-1 in the order of their ids
(MMDetection's ``cat2label``), so the labels do not depend on the order of the file.
"""
import json
import math
import os
from typing import Dict, List

import numpy as np

from engine.utils.errors import ConfigError, EngineError

__all__ = ["read_coco", "CROWD_MODES"]

#: 'drop': crowd boxes leave the targets (torchvision's detection reference);
#: 'separate': they travel as ``bbox_ignore`` (MMDetection's ``gt_bboxes_ignore``)
CROWD_MODES = ("drop", "separate")


def _load(ann_file: str) -> dict:
    if not os.path.isfile(ann_file):
        raise ConfigError(f"CocoDataset: the annotation file {ann_file} does not exist")
    try:
        with open(ann_file, encoding="utf-8") as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise EngineError(f"CocoDataset: {ann_file} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("categories"), list) \
            or not isinstance(data.get("annotations", []), list):
        raise EngineError(f"CocoDataset: {ann_file} is not a COCO file: it needs the lists 'images' "
                          f"and 'categories' (and 'annotations')")
    return data


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_segmentation(segm, image: dict, where: str) -> None:
    """A polygon list (each x, y, x, y, ... with at least 3 points) or an RLE of the
    image's size; decoded later, only the shape is checked here."""
    if isinstance(segm, list):
        if not segm or not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
                               and all(_number(v) for v in p) for p in segm):
            raise EngineError(f"{where}: 'segmentation' polygons must be lists of x, y numbers with at "
                              f"least 3 points")
    elif isinstance(segm, dict):
        if "counts" not in segm or "size" not in segm:
            raise EngineError(f"{where}: an RLE 'segmentation' needs 'counts' and 'size'")
        if list(segm["size"]) != [image["height"], image["width"]]:
            raise EngineError(f"{where}: the RLE's size {list(segm['size'])} is not the image's "
                              f"[height, width] {[image['height'], image['width']]}")
    else:
        raise EngineError(f"{where}: 'segmentation' must be polygons or an RLE, got {type(segm).__name__}")


def _categories(data: dict, ann_file: str):
    ids, names = [], []
    for cat in data["categories"]:
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or "name" not in cat:
            raise EngineError(f"CocoDataset: {ann_file}: a category needs an integer 'id' and a 'name', got {cat!r}")
        if cat["id"] in ids:
            raise EngineError(f"CocoDataset: {ann_file}: category id {cat['id']} is defined twice")
        ids.append(cat["id"])
        names.append(str(cat["name"]))
    if not ids:
        raise EngineError(f"CocoDataset: {ann_file} defines no category")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return [ids[i] for i in order], [names[i] for i in order]


def _images(data: dict, ann_file: str) -> Dict[int, dict]:
    images = {}
    for image in data["images"]:
        image_id = image.get("id") if isinstance(image, dict) else None
        if not isinstance(image_id, int):
            raise EngineError(f"CocoDataset: {ann_file}: an image needs an integer 'id', got {image!r}")
        where = f"CocoDataset: {ann_file}: image id {image_id}"
        if image_id in images:
            raise EngineError(f"{where} is defined twice")
        if not isinstance(image.get("file_name"), str) or not image["file_name"]:
            raise EngineError(f"{where} has no 'file_name'")
        if not all(isinstance(image.get(k), int) and image[k] > 0 for k in ("width", "height")):
            raise EngineError(f"{where}: 'width' and 'height' must be positive integers")
        images[image_id] = {"id": image_id, "file_name": image["file_name"], "width": image["width"],
                            "height": image["height"], "boxes": [], "labels": [], "ann_ids": [],
                            "segms": [], "crowd": []}
    return images


def read_coco(ann_file: str, with_masks: bool, crowd: str) -> dict:
    """``{'cat_ids', 'classes', 'images': [record, ...]}`` in the file's image order; a
    record holds ``id``, ``file_name``, ``width``, ``height``, ``boxes`` (N x 4 float32,
    x1 y1 x2 y2), ``labels`` (N int64), ``ann_ids``, ``segms`` (with masks) and
    ``crowd`` (M x 4 crowd boxes)."""
    data = _load(ann_file)
    cat_ids, classes = _categories(data, ann_file)
    label_of = {cat_id: label for label, cat_id in enumerate(cat_ids)}
    images = _images(data, ann_file)
    seen = set()
    for ann in data.get("annotations", []):
        ann_id = ann.get("id") if isinstance(ann, dict) else None
        where = f"CocoDataset: {ann_file}: annotation id {ann_id}"
        if ann_id is None:
            raise EngineError(f"CocoDataset: {ann_file}: an annotation has no 'id': {ann!r}")
        if ann_id in seen:
            raise EngineError(f"{where} is defined twice")
        seen.add(ann_id)
        image = images.get(ann.get("image_id"))
        if image is None:
            raise EngineError(f"{where}: image_id {ann.get('image_id')!r} is not an image of the file")
        if ann.get("category_id") not in label_of:
            raise EngineError(f"{where}: category_id {ann.get('category_id')!r} is not a category of the "
                              f"file (ids: {cat_ids})")
        box = ann.get("bbox")
        if not isinstance(box, list) or len(box) != 4 or not all(_number(v) for v in box):
            raise EngineError(f"{where}: 'bbox' must be [x, y, width, height] numbers, got {box!r}")
        x, y, w, h = (float(v) for v in box)
        if w < 0 or h < 0:
            raise EngineError(f"{where}: 'bbox' {box} has a negative width or height")
        if ann.get("ignore") or w == 0 or h == 0:
            continue
        if ann.get("iscrowd"):
            if crowd == "separate":
                image["crowd"].append([x, y, x + w, y + h])
            continue
        if with_masks:
            if "segmentation" not in ann:
                raise EngineError(f"{where} has no 'segmentation' (with_masks=True needs one per object)")
            _check_segmentation(ann["segmentation"], image, where)
            image["segms"].append(ann["segmentation"])
        image["boxes"].append([x, y, x + w, y + h])
        image["labels"].append(label_of[ann["category_id"]])
        image["ann_ids"].append(ann_id)
    records: List[dict] = []
    for image in images.values():
        image["boxes"] = np.asarray(image["boxes"], np.float32).reshape(-1, 4)
        image["labels"] = np.asarray(image["labels"], np.int64)
        image["crowd"] = np.asarray(image["crowd"], np.float32).reshape(-1, 4)
        records.append(image)
    return {"cat_ids": cat_ids, "classes": classes, "images": records}
