"""train.py re-runs itself once with PYTHONHASHSEED=0 when string hashing is random, so a
sample list built from a set of file names has one order in every run (and resume, and
every process of a group)."""
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import DIGITS_PY, ROOT, TESTS

from engine.schedule import string_hashing

PROJECT = os.path.join(TESTS, "set_order_project.py")


def train(out, env):
    """(number of samples, the first names of the project's set order, losses, log.txt)."""
    command = [sys.executable, PROJECT, "--config-file", DIGITS_PY, "output_dir", str(out), "solver.max_iter", "2",
               "dataloader.train_data_set.name", "SetOrderDigits", "dataloader.num_workers", "0",
               "solver.eval_period", "0", "trainer.log_period", "1", "trainer.progress_bar", "False",
               "solver.generator.lr_scheduler.params.warmup_iter", "1"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (out / "digits" / "log.txt").read_text()
    line = next(line for line in log.splitlines() if "sample order of " in line)
    count, names = line.split("sample order of ")[1].split(": ", 1)
    losses = [r["cls"] for r in map(json.loads, (out / "digits" / "metrics.jsonl").read_text().splitlines())
              if r["type"] == "train"]
    return int(count), names, losses, log


def set_order(count, env):
    """The first names of the project's set, in an interpreter started with ``env``."""
    code = ("import sys; names = list({f'digits/{i:04d}.png' for i in range(int(sys.argv[1]))}); "
            "print(' '.join(names[:8]))")
    done = subprocess.run([sys.executable, "-c", code, str(count)], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_a_set_ordered_sample_list_has_the_fixed_hashings_order(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    count, names, losses, log = train(tmp_path, env)
    assert "string hashing: fixed (PYTHONHASHSEED=0)" in log and len(losses) == 2 and count > 1000
    # every run orders the set as an interpreter started with PYTHONHASHSEED=0 does,
    # where another salt gives another order
    assert names == set_order(count, dict(env, PYTHONHASHSEED="0"))
    assert names != set_order(count, dict(env, PYTHONHASHSEED="1"))


RANDOM = SimpleNamespace(hash_randomization=1, ignore_environment=0, interactive=0)
TRAIN = os.path.join(ROOT, "train.py")


@pytest.fixture
def started(monkeypatch):
    """``started(orig_argv, argv, main_file=..., spec=...)``: this process as if the
    interpreter had been started so, with random string hashing."""
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    main = sys.modules["__main__"]

    def start(orig_argv, argv, main_file=TRAIN, spec=None):
        monkeypatch.setattr(sys, "orig_argv", list(orig_argv), raising=False)
        monkeypatch.setattr(sys, "argv", list(argv))
        monkeypatch.setattr(main, "__file__", main_file, raising=False)
        monkeypatch.setattr(main, "__spec__", spec, raising=False)
    return start


def test_a_script_or_a_module_is_re_run_with_its_own_command_line(started):
    started(["python", "-u", TRAIN, "--config-file", "c.py"], [TRAIN, "--config-file", "c.py"])
    assert string_hashing.rerun_command(None, RANDOM) == [sys.executable, "-u", TRAIN, "--config-file", "c.py"]
    started(["python", "-m", "codes.train", "--config-file", "c.py"], [TRAIN, "--config-file", "c.py"],
            spec=SimpleNamespace(name="codes.train"))
    assert string_hashing.rerun_command(None, RANDOM) == [sys.executable, "-m", "codes.train", "--config-file", "c.py"]
    started(["python", "-m", "codes"], [TRAIN], spec=SimpleNamespace(name="codes.__main__"))
    assert string_hashing.rerun_command(None, RANDOM) == [sys.executable, "-m", "codes"]


def test_no_re_run_where_the_command_line_is_not_the_scripts_or_hashing_is_decided(started, monkeypatch):
    started(["python", "-u", TRAIN, "--config-file", "c.py"], [TRAIN, "--config-file", "c.py"])
    assert string_hashing.rerun_command(["--config-file", "c.py"], RANDOM) is None  # schedule(argv): in code
    for flags in (SimpleNamespace(hash_randomization=0, ignore_environment=0, interactive=0),  # already fixed
                  SimpleNamespace(hash_randomization=1, ignore_environment=1, interactive=0),  # -E / -I
                  SimpleNamespace(hash_randomization=1, ignore_environment=0, interactive=1)):  # python -i
        assert string_hashing.rerun_command(None, flags) is None
    started(["python", "/venv/bin/ipython"], [TRAIN])  # IPython's %run train.py: not the session
    assert string_hashing.rerun_command(None, RANDOM) is None
    started(["python", TRAIN, "--config-file", "c.py"], [TRAIN])  # the script shortened its sys.argv
    assert string_hashing.rerun_command(None, RANDOM) is None
    started(["python", "-m", "cProfile", TRAIN, "--config-file", "c.py"], [TRAIN, "--config-file", "c.py"],
            main_file="/usr/lib/python3/cProfile.py")  # a wrapper runs the script
    assert string_hashing.rerun_command(None, RANDOM) is None
    started(["python", "-u", TRAIN, "--config-file", "c.py"], [TRAIN, "--config-file", "c.py"])
    monkeypatch.setenv("PYTHONHASHSEED", "random")  # the user's choice
    assert string_hashing.rerun_command(None, RANDOM) is None
