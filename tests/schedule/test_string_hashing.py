"""train.py re-runs itself once with PYTHONHASHSEED=0 when string hashing is random, so a
sample list built from a set of file names has one order in every run (and resume, and
every process of a group)."""
import json
import os
import subprocess
import sys

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
    assert "string hashing: PYTHONHASHSEED=0" in log and len(losses) == 2 and count > 1000
    # every run orders the set as an interpreter started with PYTHONHASHSEED=0 does,
    # where another salt gives another order
    assert names == set_order(count, dict(env, PYTHONHASHSEED="0"))
    assert names != set_order(count, dict(env, PYTHONHASHSEED="1"))


def test_no_re_run_when_hashing_is_set_or_the_arguments_come_from_code(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.setattr(sys, "argv", [os.path.join(ROOT, "train.py"), "--config-file", "c.py"])
    monkeypatch.setattr(sys, "orig_argv", ["python", "-u", os.path.join(ROOT, "train.py"), "--config-file", "c.py"])
    monkeypatch.setattr(sys.modules["__main__"], "__file__", os.path.join(ROOT, "train.py"), raising=False)
    if sys.flags.hash_randomization:  # pytest itself started with random hashing
        assert string_hashing.rerun_command(None) == [sys.executable, "-u", os.path.join(ROOT, "train.py"),
                                                       "--config-file", "c.py"]
    assert string_hashing.rerun_command(["--config-file", "c.py"]) is None  # schedule(argv): in code
    monkeypatch.setattr(sys, "argv", ["other.py", "--config-file", "c.py"])  # not the script that runs
    assert string_hashing.rerun_command(None) is None
    monkeypatch.setattr(sys, "argv", [os.path.join(ROOT, "train.py"), "--config-file", "c.py"])
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    assert string_hashing.rerun_command(None) is None
