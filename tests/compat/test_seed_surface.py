"""Every module path and public name of the seed engine's package imports from ours.

tests/compat/seed_surface.json lists them: each module of TrainFramework's ``engine/`` (at
its latest commit, with the released engine_frame 3.0.0 wheel) and the public classes and
functions it defines or hands on, read from the seed's source."""
import importlib
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

SURFACE = json.load(open(os.path.join(ROOT, "tests", "compat", "seed_surface.json")))


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_seed_module_and_its_names_import(module):
    imported = importlib.import_module(module)
    missing = [name for name in SURFACE[module] if not hasattr(imported, name)]
    assert not missing, f"{module} lacks {missing}"


def test_seed_paths_are_the_compat_modules_themselves():
    from engine.compat.seed.modules import SEED_MODULES

    for path, target in SEED_MODULES.items():
        if target is not None:
            assert importlib.import_module(path) is importlib.import_module(target), path


def test_the_surface_imports_in_a_fresh_interpreter_in_any_order():
    """No import cycle: the whole surface in reverse order, then each of several seed
    modules imported first into an interpreter with no engine module loaded."""
    code = ("import importlib, json, sys\n"
            "surface = sorted(json.load(open(sys.argv[1])), reverse=True)\n"
            "for first in sys.argv[2:] + [None]:\n"
            "    for name in [k for k in sys.modules if k == 'engine' or k.startswith('engine.')]:\n"
            "        del sys.modules[name]\n"
            "    for module in ([first] if first else surface):\n"
            "        importlib.import_module(module)\n")
    firsts = ["engine.loss.ce_loss", "engine.slover", "engine.transforms.functional", "engine.model.ema",
              "engine.checkpoint.checkpoint_manager", "engine.data.data_loader", "engine.model.base_model"]
    done = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "tests", "compat", "seed_surface.json"),
                           *firsts], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_seeds_data_package_hands_on_its_loader_builders():
    """The seed's engine/data/__init__.py star-imports data_loader: projects write
    `from engine.data import create_data_loader`."""
    from engine.compat.seed import data_loader
    from engine.data import create_data_loader, create_distribute_iterable_data_loader

    assert create_data_loader is data_loader.create_data_loader
    assert create_distribute_iterable_data_loader is data_loader.create_distribute_iterable_data_loader
