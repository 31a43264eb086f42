"""Image / mask pairs listed in text files, the format of the seed's published
projects: one ``img_path,mask_path`` per line, both relative to ``root``.

Several lists can make one dataset, each with a sampling ratio: the number of times its
lines are used per epoch (``ratios=[1, 3]``: the second list three times, to
oversample a rare domain; ``0.5``: half its lines). The repeats are separate indices, so
each copy gets its own augmentation from (seed, epoch, index), and the engine's
shuffling mixes them. A fractional part takes lines evenly spaced through the list (the
same ones every epoch: the subset is a property of the dataset, not of chance).

The mask is a label map (one channel of class indices, 8 or 16 bit, 255 usually
"ignore"). It travels in the results dict as ``gt_semantic_seg`` (the seed's name),
listed in ``mask_fields``, so geometric transforms move it with the image using nearest
neighbours and photometric ones and ``Normalize`` leave it alone
(engine/transforms/fields.py).
"""
import math
import os
from typing import List, Optional, Sequence, Union

from engine.utils.errors import ConfigError, EngineError

from ..build import BUILD_DATASET_REGISTRY
from ..dataset import EngineDataSet
from .reading import check_color_type, check_exists, image_results, image_tensor, label_tensor, read_image, \
    read_label_map

__all__ = ["ImageMaskListDataset", "read_pair_list", "ratio_indices"]


def read_pair_list(root: str, list_file: str):
    """``[(img_path, mask_path, line number), ...]`` of one list; blank lines skipped."""
    path = os.path.join(root, list_file)
    if not os.path.isfile(path):
        raise ConfigError(f"ImageMaskListDataset: the list file {path} does not exist")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            fields = [field.strip() for field in line.split(",")]
            if len(fields) != 2 or not all(fields):
                raise EngineError(f"ImageMaskListDataset: {path} line {number}: expected "
                                  f"'img_path,mask_path', got {line!r}")
            pairs.append((os.path.join(root, fields[0]), os.path.join(root, fields[1]), number))
    if not pairs:
        raise EngineError(f"ImageMaskListDataset: the list file {path} has no 'img_path,mask_path' line")
    return pairs


def ratio_indices(count: int, ratio: float) -> List[int]:
    """Positions ``0..count-1`` used ``ratio`` times: ``floor`` whole passes, then the
    rest evenly spaced; ``round(ratio * count)`` in all."""
    total = int(round(ratio * count))
    whole, rest = divmod(total, count)
    return list(range(count)) * whole + [j * count // rest for j in range(rest)]


@BUILD_DATASET_REGISTRY.register()
class ImageMaskListDataset(EngineDataSet):
    """Samples ``{'input_data': C x H x W float tensor, 'target_data': H x W int64}``:
    the keys ``SegmentationEvaluator`` reads by default.

    - ``list_files``: one list file or several (relative to ``root``, or absolute);
    - ``ratios``: one per list (default 1 each), each >= 0;
    - ``color_type``: 'color' (RGB, the default) or 'grayscale';
    - ``mask_key``: the mask's name in the results dict (``gt_semantic_seg``; a
      transform's per-field ``interpolation``/``pad_value`` use it);
    - ``check_files``: look for every image and mask when the dataset is built, so a
      missing one stops the run before training (naming the list and line).

    Padding fills masks with the transforms' ``mask_pad_val`` (0 unless set: use the
    evaluator's ``ignore_index``, 255, to keep padding out of the score).
    """

    def __init__(self, root: str, list_files: Union[str, Sequence[str]], transformer: Optional[List] = None,
                 ratios: Optional[Sequence[float]] = None, color_type: str = "color",
                 mask_key: str = "gt_semantic_seg", check_files: bool = True):
        super().__init__(transformer)
        self.root = str(root)
        self.list_files = [list_files] if isinstance(list_files, str) else [str(f) for f in list_files]
        if not self.list_files:
            raise ConfigError("ImageMaskListDataset: list_files is empty")
        ratios = [1.0] * len(self.list_files) if ratios is None else list(ratios)
        if len(ratios) != len(self.list_files) or not all(
                isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r >= 0
                for r in ratios):
            raise ConfigError(f"ImageMaskListDataset: ratios must be one number >= 0 per list file "
                              f"({len(self.list_files)}), got {ratios}")
        self.ratios = [float(r) for r in ratios]
        self.color_type = check_color_type("ImageMaskListDataset", color_type)
        self.mask_key = str(mask_key)
        self.pairs, self.indices, self.list_counts = [], [], []
        for list_file, ratio in zip(self.list_files, self.ratios):
            pairs = [(img, mask, list_file, line) for img, mask, line in read_pair_list(self.root, list_file)]
            chosen = [len(self.pairs) + i for i in ratio_indices(len(pairs), ratio)]
            self.pairs.extend(pairs)
            self.indices.extend(chosen)
            self.list_counts.append(len(chosen))
        if not self.indices:
            raise ConfigError(f"ImageMaskListDataset: ratios {self.ratios} select no sample")
        if check_files:
            for img, mask, list_file, line in self.pairs:
                where = self._where(list_file, line)
                check_exists(img, where, "image")
                check_exists(mask, where, "mask")

    def _where(self, list_file: str, line: int) -> str:
        return f"ImageMaskListDataset: {os.path.join(self.root, list_file)} line {line}"

    def __len__(self):
        return len(self.indices)

    def describe_sample(self, index: int) -> str:
        img, _, list_file, line = self.pairs[self.indices[index]]
        return f"{img}, {list_file} line {line}"

    def load_results(self, index: int) -> dict:
        img_path, mask_path, list_file, line = self.pairs[self.indices[index]]
        where = self._where(list_file, line)
        img = read_image(img_path, where, self.color_type)
        mask = read_label_map(mask_path, where)
        if mask.shape[:2] != img.shape[:2]:
            raise EngineError(f"{where}: the mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but the image "
                              f"{img_path} is {img.shape[1]}x{img.shape[0]} (width x height)")
        results = image_results(img, img_path)
        results.update({self.mask_key: mask, "img_fields": ["img", self.mask_key],
                        "mask_fields": [self.mask_key], "seg_filename": mask_path})
        return results

    def __getitem__(self, index):
        results = self.data_pipeline(self.load_results(index))
        return {"input_data": image_tensor(results["img"], self.device_normalize),
                "target_data": label_tensor(results[self.mask_key])}
