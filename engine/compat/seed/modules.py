"""The seed's module paths, mapped onto the modules that implement them.

A project written for the seed imports modules our core does not have under those
names (``engine.slover``, ``engine.comm``, ``engine.loss.ce_loss``...). Instead of a thin
file in each core folder, one table names them all; a finder placed in front of
``sys.meta_path`` when ``engine`` is imported answers for exactly these names by handing
out the compat module itself (so ``engine.slover.optimizer`` *is*
``engine.compat.seed.slover.optimizer``: one object, one class identity, pickles and
isinstance checks agree). A path mapped to ``None`` is an empty package, as in the seed
(``engine.log``, ``engine.loss.function``).

The core's own modules at seed paths (``engine.model.base_model``, ``engine.loss.pipe``...)
are not in the table: they are the core.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Dict, Optional

__all__ = ["SEED_MODULES", "install"]

_S = "engine.compat.seed."

SEED_MODULES: Dict[str, Optional[str]] = {
    "engine.comm": _S + "comm",
    "engine.collect_env": _S + "collect_env",
    "engine.log": None,
    "engine.log.logger": _S + "logger",
    "engine.multiprocess": _S + "multiprocess",
    "engine.multiprocess.multiprocess": _S + "multiprocess",
    "engine.config.parser": _S + "config_parser",
    "engine.checkpoint.functional": _S + "checkpoint_functional",
    "engine.checkpoint.checkpoint_manager": _S + "checkpoint_manager",
    "engine.checkpoint.checkpoint_state_dict": _S + "checkpoint_state_dict",
    "engine.data.common": _S + "data_common",
    "engine.data.data_loader": _S + "data_loader",
    "engine.data.samplers": _S + "samplers",
    "engine.data.samplers.distributed_sampler": _S + "samplers",
    "engine.slover": _S + "slover",
    "engine.slover.optimizer": _S + "slover.optimizer",
    "engine.slover.lr_scheduler": _S + "slover.lr_scheduler",
    "engine.model.import_optimizer": _S + "import_optimizer",
    "engine.model.import_scheduler": _S + "import_scheduler",
    "engine.model.init_model": _S + "init_model",
    "engine.loss.ce_loss": _S + "loss.ce_loss",
    "engine.loss.dice_loss": _S + "loss.dice_loss",
    "engine.loss.iou_loss": _S + "loss.iou_loss",
    "engine.loss.ohemce_loss": _S + "loss.ohemce_loss",
    "engine.loss.ssim_loss": _S + "loss.ssim_loss",
    "engine.loss.torch_loss": _S + "loss.torch_loss",
    "engine.loss.util": _S + "loss.util",
    "engine.loss.vgg_loss": _S + "loss.vgg_loss",
    "engine.loss.function": None,
    "engine.loss.function.ssim": _S + "loss.ssim_function",
    "engine.transforms.mix_transforms": _S + "mix_transforms",
    "engine.transforms.pipe": _S + "transforms_pipe",
    "engine.transforms.pip": _S + "transforms_pipe",  # data_aug.md's spelling of pipe
    "engine.transforms.transforms": _S + "transforms_classes",
}


class _Alias(importlib.abc.Loader):
    """Loads a seed path as the module that implements it (or an empty package)."""

    def __init__(self, target: Optional[str]):
        self.target = target

    def create_module(self, spec):
        if self.target is None:
            module = types.ModuleType(spec.name, "An empty package of the seed engine.")
            module.__path__ = []
            return module
        module = importlib.import_module(self.target)
        if not hasattr(module, "__path__"):
            module.__path__ = []  # the seed path may have children (engine.data.samplers.*)
        return module

    def exec_module(self, module):
        pass  # the target ran when it was imported


class SeedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the paths of :data:`SEED_MODULES` and nothing else."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in SEED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(SEED_MODULES[fullname]),
                                              is_package=True)


def install() -> None:
    """Put the finder in front of ``sys.meta_path`` (once)."""
    if not any(isinstance(f, SeedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, SeedModuleFinder())
