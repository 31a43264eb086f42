"""``root/<class name>/<image>``: the classification layout of torchvision's
ImageFolder, as an EngineDataSet.

The class index of a folder is its position among the sorted folder names, as in
torchvision, so a model trained here and one trained with torchvision agree on the
labels. A validation folder that lacks a class would then number the others
differently: give both sets the same ``classes`` list.
"""
import os
from typing import List, Optional, Sequence

from engine.utils.errors import ConfigError, EngineError

from ..build import BUILD_DATASET_REGISTRY
from ..dataset import EngineDataSet
from .reading import IMG_EXTENSIONS, check_color_type, image_results, image_tensor, is_image_file, read_image

__all__ = ["ImageFolderDataset", "find_images"]


def find_images(root: str, classes: Optional[Sequence[str]] = None, allow_empty: bool = False):
    """``(classes, [(path, class index), ...])`` as torchvision's ``find_classes`` and
    ``make_dataset`` list them: each class folder walked recursively (links followed),
    files with an image extension, everything sorted."""
    where = f"ImageFolderDataset({root!r})"
    if not os.path.isdir(root):
        raise ConfigError(f"{where}: the folder {root} does not exist")
    if classes is None:
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        if not classes:
            raise EngineError(f"{where}: no class folders in {root} (expected {root}/<class name>/<image>)")
    else:
        classes = [str(c) for c in classes]
        missing = [c for c in classes if not os.path.isdir(os.path.join(root, c))]
        if missing:
            raise ConfigError(f"{where}: classes {missing} have no folder in {root}")
    samples, empty = [], []
    for index, name in enumerate(classes):
        found = [os.path.join(folder, f)
                 for folder, _, files in sorted(os.walk(os.path.join(root, name), followlinks=True))
                 for f in sorted(files) if is_image_file(f)]
        samples.extend((path, index) for path in found)
        if not found:
            empty.append(name)
    if empty and not allow_empty:
        raise EngineError(f"{where}: no image in the class folder(s) {empty} (extensions: "
                          f"{', '.join(IMG_EXTENSIONS)}); pass allow_empty=True to keep such classes")
    return list(classes), samples


@BUILD_DATASET_REGISTRY.register()
class ImageFolderDataset(EngineDataSet):
    """Samples ``{'input_data': C x H x W float tensor, 'target_data': class index}``:
    the keys ``ClassificationEvaluator`` reads by default and the digits example's model
    trains on.

    - ``classes``: the class folders, in label order (default: every sub-folder, sorted);
      ``self.classes`` holds them, ``self.class_to_idx`` maps name to index;
    - ``color_type``: 'color' (RGB H x W x 3, the default) or 'grayscale' (H x W, for
      one-channel networks);
    - ``allow_empty``: keep a class folder with no image (an error otherwise, as in
      torchvision).

    A file that cannot be decoded is an error naming it when its sample is loaded.
    """

    def __init__(self, root: str, transformer: Optional[List] = None, classes: Optional[Sequence[str]] = None,
                 color_type: str = "color", allow_empty: bool = False):
        super().__init__(transformer)
        self.root = str(root)
        self.color_type = check_color_type("ImageFolderDataset", color_type)
        self.classes, self.samples = find_images(self.root, classes, allow_empty)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.targets = [target for _, target in self.samples]

    def __len__(self):
        return len(self.samples)

    def describe_sample(self, index: int) -> str:
        return self.samples[index][0]

    def load_results(self, index: int) -> dict:
        path, target = self.samples[index]
        results = image_results(read_image(path, f"ImageFolderDataset({self.root!r})", self.color_type), path)
        results["gt_label"] = target
        return results

    def __getitem__(self, index):
        results = self.data_pipeline(self.load_results(index))
        return {"input_data": image_tensor(results["img"], self.device_normalize),
                "target_data": self.samples[index][1]}
