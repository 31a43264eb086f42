"""Data augmentation: registered transforms run on a results dict (see ``fields``).

Importing this package registers the built-in transforms in ``TRANSFORM_REGISTRY``.
"""
from . import functional
from .base import BaseTransform
from .build import TRANSFORM_REGISTRY, build_transforms
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
]
