"""Datasets for the common formats, ready to name in a config (doc/dataset.md,
"Datasets for the common formats"): no dataset class of one's own for a folder of
images per class, a COCO json, or the seed's ``img_path,mask_path`` lists.

Each is an EngineDataSet (augmentation a pure function of seed, epoch and index) that
starts a sample as the results dict every transform reads, and ends it with the keys
the matching built-in evaluator reads by default.
"""
from .coco import CocoDataset
from .collate import detection_collate
from .image_folder import ImageFolderDataset
from .mask_list import ImageMaskListDataset
from .reading import IMG_EXTENSIONS

__all__ = ["ImageFolderDataset", "CocoDataset", "ImageMaskListDataset", "detection_collate", "IMG_EXTENSIONS"]
