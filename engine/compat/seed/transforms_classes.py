"""The seed's module of transform classes (``engine.transforms.transforms``), as aliases.

``from engine.transforms.transforms import BasicColorTransform`` (to write a pixel
transform with ``apply(img, **params)`` / ``get_params(results)``) and the seed's class
names all resolve to the engine's own classes; nothing here is a second implementation.
"""
from ...transforms.affine import RandomAffine
from ...transforms.color import RandomColorJitter
from ...transforms.color_base import BasicColorTransform
from ...transforms.crop import RandomCrop
from ...transforms.filters import RandomCLAHE, RandomCompress, RandomGaussianBlur, RandomSharpen
from ...transforms.formatting import Normalize
from ...transforms.geometric import Pad32, RandomFlip, RandomResize, Resize
from ...transforms.photometric import (RandomBrightness, RandomBrightnessContrast, RandomContrast,
                          RandomGamma, RandomHue, RandomSaturation, RandomToneCurve, ToGray)

__all__ = [
    "BasicColorTransform",
    "RandomAffine",
    "RandomFlip",
    "Resize",
    "RandomResize",
    "RandomCrop",
    "RandomToneCurve",
    "RandomBrightnessContrast",
    "RandomGaussianBlur",
    "ToGray",
    "Normalize",
    "RandomColorJitter",
    "RandomBrightness",
    "RandomContrast",
    "RandomSaturation",
    "RandomHue",
    "RandomGamma",
    "RandomCLAHE",
    "RandomCompress",
    "RandomSharpen",
    "Pad32",
]
