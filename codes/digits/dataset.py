"""scikit-learn's digits images as an EngineDataSet.

1,797 grey 8x8 images (values 0..16) of the digits 0-9. A fixed permutation splits them
into a training and a validation part, the same on every machine (``split='all'``: both).
``classes`` keeps only those digits: the feature-learning example trains on 0-6 and is
evaluated on the digits it never saw (7-9).
"""
import gzip
import importlib.util
import os
from typing import List, Optional, Tuple

import numpy as np

import engine.transforms.functional as F
from engine.data.build import BUILD_DATASET_REGISTRY
from engine.data.dataset import EngineDataSet

__all__ = ["DigitsDataset", "load_digits_split"]


def load_digits_split(split: str, val_fraction: float = 0.2):
    """(images uint8 N x 8 x 8, labels int64 N) of one split."""
    pixels, target = read_digits()
    images = np.round(pixels * (255.0 / 16.0)).astype(np.uint8)
    labels = target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    n_val = int(round(len(labels) * val_fraction))
    if split == "train":
        chosen = order[n_val:]
    elif split == "val":
        chosen = order[:n_val]
    elif split == "all":
        chosen = order
    else:
        raise ValueError(f"DigitsDataset: split must be 'train', 'val' or 'all', got {split!r}")
    return images[chosen], labels[chosen]


def read_digits() -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits.csv.gz, read directly: ``sklearn.datasets.load_digits``
    gives the same arrays but importing scikit-learn costs ~2 s in every process
    (each DDP worker, each test subprocess). Falls back to it if the file moved."""
    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = os.path.join(folder, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            with gzip.open(path, "rt") as f:
                data = np.loadtxt(f, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


@BUILD_DATASET_REGISTRY.register()
class DigitsDataset(EngineDataSet):
    #: Every draw comes from the pipeline's ``self.sample_rng``: the loader need not
    #: seed the global generators per sample (doc/dataset.md#randomness).
    uses_global_rng = False

    def __init__(self, split: str = "train", val_fraction: float = 0.2,
                 transformer: Optional[List] = None, classes: Optional[List[int]] = None):
        super().__init__(transformer)
        self.images, self.labels = load_digits_split(split, val_fraction)
        if classes is not None:
            unknown = sorted(set(int(c) for c in classes) - set(range(10)))
            if unknown or not classes:
                raise ValueError(f"DigitsDataset: classes must be digits 0-9, got {list(classes)}")
            keep = np.isin(self.labels, [int(c) for c in classes])
            self.images, self.labels = self.images[keep], self.labels[keep]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        img = self.images[index]
        results = {
            "img": img,
            "img_shape": img.shape[:2],
            "ori_shape": img.shape[:2],
            "img_fields": ["img"],
            "color_fields": ["img"],
        }
        results = self.data_pipeline(results)
        img = results["img"]
        tensor = img if not isinstance(img, np.ndarray) else F.to_tensor(img)
        return {"input_data": tensor, "target_data": int(self.labels[index])}
