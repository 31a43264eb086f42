"""The seed's ``engine.transforms.mix_transforms``: ``MosaicTransform`` and the base of a
project's own mixing transforms.

``MosaicTransform`` is the engine's (engine/transforms/mosaic.py): it takes the seed's
``dataset=[[img_path, bboxes, labels], ...]`` and draws its partners from the sample's
generator. :class:`BaseMixTransform` keeps the seed's subclassing contract
(``get_mix_labels`` returns the partner dicts, ``_mix_transform`` combines
``labels['mix_labels']``) so a project's MixUp written for the seed runs as is. The
seed drew with ``random``; here ``random`` and ``np.random`` are seeded from the
sample's generator first, so such a subclass is as reproducible as a built-in transform.
"""
import random  # noqa: F401  (public in the seed's module)
from typing import Dict, List

import cv2  # noqa: F401  (public in the seed's module)
import numpy as np

from ...transforms.base import as_rng, check_prob
from ...transforms.color_base import seed_global_random
from ...transforms.geometric import Resize
from ...transforms.mosaic import MosaicTransform

__all__ = ["MosaicTransform"]  # the seed's star-export; BaseMixTransform is imported by name


def _cls_field(label: dict, bbox_field):
    """The key of the boxes' classes: the seed's ``bbox_cls_fields``, or ours."""
    spec = label.get("bbox_cls_fields") or label.get("bbox_label_fields") or []
    spec = spec.get(bbox_field) or [] if isinstance(spec, dict) else spec
    spec = [spec] if isinstance(spec, str) else list(spec)
    return spec[0] if spec else None


class BaseMixTransform:
    """With probability ``p``: fetch partners (:meth:`get_mix_labels`), resize the sample
    and each partner to fit ``max_size`` (ratio kept), and hand them to
    :meth:`_mix_transform` as ``labels['mix_labels']``. Subclasses implement both."""

    def __init__(self, dataset: List, p=0.0, max_size=640) -> None:
        self.dataset = dataset
        self.p = check_prob(type(self).__name__, "p", p)
        self.imgsz = max_size
        self.resize_fn = Resize(target_size=max_size, keep_ratio=True)

    def __call__(self, label: dict, rng: np.random.Generator = None) -> dict:
        rng = as_rng(rng)
        if rng.random() >= self.p:
            return label
        for name in ("bbox_fields", "pts_fields"):
            if len(label.get(name) or ()) > 1:
                raise ValueError(f"{type(self).__name__}: {name} must list one key, got "
                                 f"{label[name]}")
        seed_global_random(rng)  # for subclasses that draw with random / np.random
        bbox_field = (label.get("bbox_fields") or [None])[0]
        mix_labels = self.get_mix_labels(bbox_field, _cls_field(label, bbox_field))
        label = self.resize_fn(label, rng)
        label["mix_labels"] = [self.resize_fn(data, rng) for data in mix_labels]
        label = self._mix_transform(label)
        label.pop("mix_labels", None)
        return label

    def _mix_transform(self, labels: dict) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement _mix_transform(labels)")

    def get_mix_labels(self, bbox_field, bbox_cls_fields) -> List[Dict]:
        raise NotImplementedError(
            f"{type(self).__name__} must implement get_mix_labels(bbox_field, bbox_cls_field)")

    @staticmethod
    def _update_labels(labels: dict, offset_x, offset_y, border):
        """Shift boxes and points by the tile's offset and clip them to ``border = (h, w)``."""
        for key in labels.get("bbox_fields", []):
            boxes = np.array(labels[key], np.float32).reshape(-1, np.shape(labels[key])[-1])
            boxes[:, 0:4] += np.float32([offset_x, offset_y] * 2)
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, border[1])
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, border[0])
            labels[key] = boxes
        for key in labels.get("pts_fields", []):
            pts = np.array(labels[key], np.float32).reshape(-1, np.shape(labels[key])[-1])
            pts[:, 0:2] += np.float32([offset_x, offset_y])
            pts[:, 0] = np.clip(pts[:, 0], 0, border[1])
            pts[:, 1] = np.clip(pts[:, 1], 0, border[0])
            labels[key] = pts
        return labels
