"""What the built-in datasets share: reading images and label maps with OpenCV, the
results dict a sample starts as, and the image tensor it ends as.

Images are read as the rest of the engine reads them (OpenCV, converted to RGB), through
``np.fromfile`` + ``cv2.imdecode`` rather than ``cv2.imread``: imread answers ``None`` for
a missing file, a corrupt one and a path it cannot encode alike, and a user needs to
know which. Every error is an :class:`EngineError` that starts with ``where`` (the
dataset and the list line, annotation or folder the path came from) and names the file.
"""
import os
from typing import Any, Dict

import cv2
import numpy as np
import torch

import engine.transforms.functional as F
from engine.utils.errors import ConfigError, EngineError

from ..device_batches import uint8_chw

__all__ = ["IMG_EXTENSIONS", "COLOR_TYPES", "is_image_file", "check_color_type", "read_image",
           "read_label_map", "image_results", "image_tensor", "label_tensor", "check_exists"]

#: torchvision.datasets.folder.IMG_EXTENSIONS (compared without case)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

#: ``color_type`` -> OpenCV flag: 'color' gives RGB H x W x 3, 'grayscale' H x W
COLOR_TYPES = {"color": cv2.IMREAD_COLOR, "grayscale": cv2.IMREAD_GRAYSCALE}


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def check_color_type(owner: str, color_type: str) -> str:
    if color_type not in COLOR_TYPES:
        raise ConfigError(f"{owner}: color_type must be one of {sorted(COLOR_TYPES)}, got {color_type!r}")
    return color_type


def check_exists(path: str, where: str, what: str = "image") -> None:
    """A missing file found when the dataset is built, not hours into a run."""
    if not os.path.isfile(path):
        raise EngineError(f"{where}: the {what} {path} does not exist")


def _decode(path: str, flag: int, where: str, what: str) -> np.ndarray:
    check_exists(path, where, what)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise EngineError(f"{where}: cannot read the {what} {path}: {e.strerror or e}") from None
    img = cv2.imdecode(data, flag) if data.size else None
    if img is None or img.size == 0:
        raise EngineError(f"{where}: cannot read the {what} {path}: not an image OpenCV can decode "
                          f"({'empty file' if not data.size else 'corrupt, truncated or another format'})")
    return img


def read_image(path: str, where: str, color_type: str = "color") -> np.ndarray:
    """uint8 RGB H x W x 3 ('color': grey files are repeated over 3 channels, alpha
    dropped) or H x W ('grayscale')."""
    img = _decode(path, COLOR_TYPES[color_type], where, "image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 else img


def read_label_map(path: str, where: str) -> np.ndarray:
    """A mask file as stored (8 or 16 bit), one channel of class indices. A 3-channel
    file whose channels agree is a grey map saved as colour and is accepted; one whose
    channels differ (a colour or palette PNG: OpenCV expands the palette into colours)
    cannot be turned into indices without guessing, so it is refused."""
    mask = _decode(path, cv2.IMREAD_UNCHANGED, where, "mask")
    if mask.ndim == 3:
        if mask.shape[2] >= 3 and (mask[..., 0] == mask[..., 1]).all() and (mask[..., 0] == mask[..., 2]).all():
            mask = mask[..., 0]
        elif mask.shape[2] == 1:
            mask = mask[..., 0]
        else:
            raise EngineError(f"{where}: the mask {path} is a colour image ({mask.shape[2]} channels that "
                              f"differ, e.g. a palette PNG); a mask must be one channel of class "
                              f"indices (a grey PNG)")
    if mask.dtype.kind not in "iu":
        raise EngineError(f"{where}: the mask {path} holds {mask.dtype} values; class indices must be integers")
    return np.ascontiguousarray(mask)


def image_results(img: np.ndarray, path: str) -> Dict[str, Any]:
    """The results dict of one image, with the field lists every transform reads
    (engine/transforms/fields.py) and mmcv's ``filename``."""
    return {
        "img": img,
        "img_shape": img.shape[:2],
        "ori_shape": img.shape[:2],
        "img_fields": ["img"],
        "color_fields": ["img"],
        "filename": path,
    }


def image_tensor(img: Any, keep_uint8: bool = False) -> torch.Tensor:
    """C x H x W float32: the pipeline's ToTensor output, or the array converted as
    ToTensor would (uint8 scaled to [0, 1], a normalised float image unscaled).
    ``keep_uint8`` (the dataset's ``device_normalize``): a uint8 array becomes a C x H x W
    uint8 tensor instead, normalised on the device."""
    if isinstance(img, torch.Tensor):
        return img
    if keep_uint8 and isinstance(img, np.ndarray) and img.dtype == np.uint8:
        return uint8_chw(img)
    return F.to_tensor(np.ascontiguousarray(img))


def label_tensor(mask: Any) -> torch.Tensor:
    """H x W int64: masks keep their values (ToTensor's rule for masks)."""
    if isinstance(mask, torch.Tensor):
        return mask.long()
    return torch.from_numpy(np.asarray(mask).astype(np.int64))
