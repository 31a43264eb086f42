"""Shared helpers: the repo root, running train.py as a user would, tiny configs."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DIGITS_PY = os.path.join(ROOT, "codes", "configs", "digits.py")
DIGITS_YAML = os.path.join(ROOT, "codes", "configs", "digits.yaml")


def run_train(args, cwd=None, timeout=240, env=None):
    """`python train.py ARGS` in a subprocess; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1")
    full_env.update(env or {})
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
