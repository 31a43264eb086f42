"""Shared helpers: the repo root, running train.py as a user would, tiny configs.

The tests live in folders that mirror engine/'s packages (tests/trainer/ for
engine/trainer, ...); the helper modules and fixture projects they share stay here, at
tests/'s top level. This folder goes on sys.path (as does the repo root), so a test in any
subfolder imports them by name (``from conftest import ROOT``, ``import hook_project``), and
so do the processes it starts with multiprocessing (they inherit sys.path). Test file
basenames must stay unique across the folders (pytest's prepend import mode imports each
test file as a top-level module)."""
import os
import subprocess
import sys

import pytest

# One intra-op thread per process: pytest runs two workers on the 2 cores (pytest.ini),
# and two torch threads per worker would fight over them (measured: tests/checkpoint/
# test_resume.py took 29 s of CPU with 2 threads, 7.5 s with 1). The children the tests
# start (train.py, torchrun, spawned workers) inherit it. Runs compared bitwise already
# use one thread on both sides; a user's OMP_NUM_THREADS is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Fixed string hashing for the children too: the training scripts would otherwise re-run
# themselves once to fix it (engine/schedule/string_hashing.py: a few seconds for those that
# re-run after their imports; tested in tests/schedule/test_string_hashing.py and by the
# README job's run in tests/e2e/test_digits_e2e.py, which unset it).
os.environ.setdefault("PYTHONHASHSEED", "0")
if "torch" in sys.modules:  # imported before this file (by a plugin): too late for the variable
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
for _folder in (TESTS, ROOT):  # ROOT first on the path, then tests/
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

DIGITS_PY = os.path.join(ROOT, "codes", "configs", "digits.py")
DIGITS_YAML = os.path.join(ROOT, "codes", "configs", "digits.yaml")


# The files that take longest (each 25-100 s of a ~4.5-minute suite: several training
# processes apiece) run first. pytest-xdist's loadfile hands the files out one at a time
# as a worker frees up, in collection order with --no-loadscope-reorder (pytest.ini; by
# default it sorts them by their number of tests, which sent the 6-test, 85 s
# tests/schedule/test_distributed.py out ~65th of 94 files): a slow file last leaves the
# other worker idle while it runs (475 s of tests need ~240 s on 2 workers).
SLOWEST_FILES = ("compat/test_seed_projects.py", "schedule/test_distributed.py", "model/test_fsdp.py",
                 "e2e/test_digits_e2e.py", "e2e/test_examples.py", "trainer/test_distributed_agreement.py")


def pytest_collection_modifyitems(config, items):
    """The :data:`SLOWEST_FILES` first (in that order), the rest as collected."""
    def rank(item):
        path = item.nodeid.split("::", 1)[0].replace(os.sep, "/")
        for i, name in enumerate(SLOWEST_FILES):
            if path.endswith(name):
                return i
        return len(SLOWEST_FILES)
    items[:] = sorted(items, key=rank)  # stable: each file keeps its own order


def refused_each(main, argvs) -> None:
    """Each command line in ``argvs`` makes ``main`` stop as argparse does on a usage
    error: exit status 2 (the benchmarks' argument checks)."""
    for argv in argvs:
        with pytest.raises(SystemExit) as refused:
            main(argv)
        assert refused.value.code == 2, argv


def run_train(args, cwd=None, timeout=240, env=None, unset=()):
    """`python train.py ARGS` in a subprocess (``env`` added to this one's variables,
    those named in ``unset`` removed); returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1")
    full_env.update(env or {})
    for name in unset:
        full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), *args],
        cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, env=full_env,
    )


@pytest.fixture
def tiny_digits_args(tmp_path):
    """Overrides for a few-second digits run writing into tmp_path."""
    return [
        "output_dir", str(tmp_path), "output_log_name", "run",
        "dataloader.num_workers", "0", "trainer.progress_bar", "False",
        "solver.max_iter", "40", "solver.checkpoint_period", "20", "solver.eval_period", "20",
        "trainer.log_period", "10",
    ]
