"""Datasets, samplers and loaders.

``BUILD_DATASET_REGISTRY`` and ``EngineDataSet`` are handed on here, as the seed's
``engine.data`` did, on first use: importing ``build`` with the package would load the
registry and loader machinery into every ``engine.data.*`` import, and a module that
``build`` imports could then never import a sibling of this package at its top.
"""
__all__ = ["BUILD_DATASET_REGISTRY", "EngineDataSet"]


def __getattr__(name):
    if name == "BUILD_DATASET_REGISTRY":
        from .build import BUILD_DATASET_REGISTRY

        return BUILD_DATASET_REGISTRY
    if name == "EngineDataSet":
        from .dataset import EngineDataSet

        return EngineDataSet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
