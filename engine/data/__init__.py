"""Datasets, samplers and loaders.

``BUILD_DATASET_REGISTRY`` and ``EngineDataSet`` are handed on here, as the seed's
``engine.data`` did, with the datasets for the common formats (``ImageFolderDataset``,
``CocoDataset``, ``ImageMaskListDataset``: :mod:`engine.data.datasets`), on first use:
importing ``build`` with the package would load the registry and loader machinery into
every ``engine.data.*`` import, and a module that ``build`` imports could then never
import a sibling of this package at its top.
"""
__all__ = ["BUILD_DATASET_REGISTRY", "EngineDataSet", "ImageFolderDataset", "CocoDataset",
           "ImageMaskListDataset", "detection_collate"]
_DATASETS = ("ImageFolderDataset", "CocoDataset", "ImageMaskListDataset", "detection_collate")


def __getattr__(name):
    if name == "BUILD_DATASET_REGISTRY":
        from .build import BUILD_DATASET_REGISTRY

        return BUILD_DATASET_REGISTRY
    if name == "EngineDataSet":
        from .dataset import EngineDataSet

        return EngineDataSet
    if name.startswith("create_") and name.endswith("data_loader"):  # the seed's star export
        from ..compat.seed import data_loader

        return getattr(data_loader, name)
    if name in _DATASETS:  # the datasets for the common formats (datasets/)
        from . import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
