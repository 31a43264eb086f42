"""Data augmentation: registered transforms run on a results dict (see ``fields``).

Importing this package registers the built-in transforms in ``TRANSFORM_REGISTRY``.
``TransformCompose`` (the seed's pipeline, engine/compat/seed/transforms_pipe.py) is
loaded on first use: that module imports this package's submodules, so importing it
here would be circular.
"""
from . import functional
from .base import BaseTransform
from .build import (BUILD_TRANSFORMER_REGISTRY, TRANSFORM_REGISTRY, build_transformer,
                    build_transforms)
from .color import RandomColorJitter
from .color_base import BasicColorTransform
from .composition import OneOf, RandomApply, SomeOf
from .filters import (RandomCLAHE, RandomCompress, RandomGaussianBlur, RandomGaussianNoise,
                      RandomSharpen)
from .photometric import (RandomBrightness, RandomBrightnessContrast, RandomContrast,
                          RandomGamma, RandomHue, RandomSaturation, RandomToneCurve, ToGray)
from .compose import Compose
from .crop import CenterCrop, Pad, RandomCrop, RandomResizedCrop
from .formatting import Normalize, ToTensor
from .geometric import Pad32, RandomFlip, RandomResize, Resize
from .affine import RandomAffine, RandomPerspective, RandomRotate
from .erase import Cutout, RandomErasing
from .mosaic import MosaicTransform

__all__ = [
    "functional",
    "BaseTransform",
    "TRANSFORM_REGISTRY",
    "build_transforms",
    "Compose",
    "RandomFlip",
    "Resize",
    "RandomCrop",
    "CenterCrop",
    "Pad",
    "RandomColorJitter",
    "BasicColorTransform",
    "RandomBrightness",
    "RandomContrast",
    "RandomSaturation",
    "RandomHue",
    "RandomGamma",
    "RandomBrightnessContrast",
    "RandomToneCurve",
    "ToGray",
    "RandomGaussianBlur",
    "RandomSharpen",
    "RandomCLAHE",
    "RandomCompress",
    "RandomGaussianNoise",
    "OneOf",
    "SomeOf",
    "RandomApply",
    "Normalize",
    "ToTensor",
    # the seed's package exports (``from engine.transforms import *``)
    "BUILD_TRANSFORMER_REGISTRY",
    "build_transformer",
    "TransformCompose",
    "RandomAffine",
    "RandomResize",
    "Pad32",
    "MosaicTransform",
]


def __getattr__(name):
    if name == "TransformCompose":
        from engine.compat.seed.transforms_pipe import TransformCompose

        return TransformCompose
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
