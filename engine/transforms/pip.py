"""``engine.transforms.pip``: the module name data_aug.md's "初始化" example imports
``TransformCompose`` from (``from engine.transforms.pip import TransformCompose``), a
spelling of :mod:`engine.transforms.pipe`; the same class, so that example runs as
written."""
from .pipe import TransformCompose

__all__ = ["TransformCompose"]
