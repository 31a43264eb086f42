"""The base class of user datasets: a torch Dataset that owns its transform pipeline.

Subclasses fill ``__getitem__``/``__len__`` and call ``self.data_pipeline(results)`` on
the results dict. The pipeline draws its randomness from ``self.sample_rng``, which the
engine's loader sets per sample from (seed, epoch, index); outside the engine's loader
(a notebook, a quick check) a fresh generator is used.

Transforms that mix samples (``MosaicTransform``) reach other samples through
``EngineDataSet.load_results(index)``: the dataset hands itself to every transform of its
pipeline that has a ``bind_dataset`` method. The partners' indices come from the
sample's own generator and ``load_results`` is deterministic, so a mixed sample is still
a pure function of (seed, epoch, index), whatever the number of workers.

The pipeline is held as ``self.transformers`` (the seed's attribute name); ``pipeline``
reads and writes the same object, but only as a class-level property, so a project
dataset that defines its own method ``pipeline(img_info, ann_info)`` (as the seed
allowed: SDDet's CocoDataset does) keeps its method. The engine's own code reads
``transformers``.
"""
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from torch.utils.data import Dataset

__all__ = ["EngineDataSet"]


class EngineDataSet(Dataset):
    #: Optional batch collation (e.g. for variable numbers of boxes); None = torch's default.
    collate_fn = None

    #: False: every random draw of ``__getitem__`` (its pipeline included) comes from
    #: ``self.sample_rng``, never from ``random``, ``np.random`` or ``torch``'s global
    #: generators. The loader then does not seed and restore those per sample (~20 us a
    #: sample, ~7 % of a small model's step when loading in the main process), and checks
    #: the claim on the first batch each process loads. True (the default, and what the
    #: seed's datasets need): the global generators are seeded per sample too.
    uses_global_rng = True

    #: True when the loader normalises ``input_data`` on the device
    #: (``dataloader.device_normalize``, set by the loader): a dataset that makes the image
    #: tensor itself (the built-in ones, through ``reading.image_tensor``) then leaves a
    #: uint8 image uint8, for the device to normalise.
    device_normalize = False

    def __init__(self, transformer: Optional[List[Any]] = None):
        from ..transforms.build import build_transforms
        from ..transforms.compose import Compose

        if isinstance(transformer, Compose):
            self.transformers = transformer
        else:
            self.transformers = build_transforms(transformer or [])
        self.sample_rng: Optional[np.random.Generator] = None
        _bind_dataset(self.transformers, self)

    @property
    def pipeline(self):
        """The transform pipeline (``self.transformers``); a subclass may replace this
        name with a method of its own."""
        return self.transformers

    @pipeline.setter
    def pipeline(self, value) -> None:
        self.transformers = value

    #: ``load_results(self, index) -> dict``: the results dict of sample ``index`` before
    #: augmentation, for transforms that mix samples. Implement it (and let ``__getitem__``
    #: start from it) to use ``MosaicTransform`` without the seed's ``dataset=[...]`` list;
    #: it must not draw random numbers. None: not implemented (a mixing transform in the
    #: pipeline is then a ConfigError when the dataset is built).
    load_results: Optional[Callable[[int], Dict[str, Any]]] = None

    def describe_sample(self, index: int) -> Optional[str]:
        """What sample ``index`` is (its file path, a record id), for error messages: a
        sample that fails to load, or a worker that dies on it, is named by its index
        and this. None (the default): the index alone."""
        return None

    def data_pipeline(self, results: Dict[str, Any]) -> Dict[str, Any]:
        """``results`` through the pipeline, with the sample's generator. Without one (this
        dataset sits inside a project's own wrapper, e.g. SDDet's ``ConcatDataset`` of
        EngineDataSets, which the loader cannot see into; or a notebook) the generator
        draws from numpy's global stream, which the loader seeds per sample: a nested
        dataset's augmentation stays a function of (seed, epoch, index)."""
        from ..transforms.compose import global_generator, record_shapes

        record_shapes(results)  # img_shape / ori_shape, as the seed's pipeline sets them
        rng = self.sample_rng
        if rng is None:
            rng = global_generator()
        return self.transformers(results, rng)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


def _bind_dataset(transforms, dataset) -> None:
    """Give ``dataset`` to each transform (nested pipelines included) that asks for it."""
    for t in getattr(transforms, "transforms", None) or []:
        if hasattr(t, "bind_dataset"):
            t.bind_dataset(dataset)
        _bind_dataset(t, dataset)
