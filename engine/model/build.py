"""Registries for model bundles and networks, and their config-driven builders.

The network registry also resolves ``torchvision.<name>`` and ``timm.<name>``
(named_networks.py). The built-in bundles for the common tasks (tasks/) subclass BaseModel:
they are registered when base_model.py is imported, so before any project's bundle, which
may then take one of their names.
"""
from ..utils.registry import Registry, build_from_cfg, lookup
from .named_networks import NetworkRegistry

__all__ = ["BUILD_MODEL_REGISTRY", "BUILD_NETWORK_REGISTRY", "build_model", "build_network"]

BUILD_MODEL_REGISTRY = Registry("BUILD_MODEL")
BUILD_MODEL_REGISTRY.__doc__ = "Model bundles (BaseModel subclasses) named by trainer.model.name."

BUILD_NETWORK_REGISTRY = NetworkRegistry("BUILD_NETWORK")
BUILD_NETWORK_REGISTRY.__doc__ = ("nn.Module classes named by trainer.model.generator.name etc.; also "
                                  "'torchvision.<name>' and 'timm.<name>'.")


def build_model(cfg):
    """The bundle named by ``trainer.model.name``, constructed as ``Model(cfg)``."""
    from . import base_model  # noqa: F401  (registers the built-in bundles)

    model_cls = lookup(BUILD_MODEL_REGISTRY, cfg.TRAINER.MODEL.NAME, "trainer.model.name")
    return model_cls(cfg)


def build_network(node, where: str = "trainer.model.generator"):
    """The network ``node.name`` names, built with the node's other keys as arguments;
    ``where`` is the config path errors name (the seed calls it with the node alone)."""
    return build_from_cfg(BUILD_NETWORK_REGISTRY, node, where)

