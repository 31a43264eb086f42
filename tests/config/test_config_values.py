"""Issue 16.7: every config value checked before anything is written. Each bad value or
bad file through the entry point: its message, exit status 2, no run directory."""
import os

import pytest

from engine.config import load_cfg
from engine.schedule.scheduler import BaseScheduler
from engine.utils.errors import ConfigError

from conftest import DIGITS_PY


def run(tmp_path, capsys, config=DIGITS_PY, *overrides):
    out = tmp_path / "out"
    argv = ["--config-file", str(config), "output_dir", str(out), "dataloader.num_workers", "0", *overrides]
    with pytest.raises(SystemExit) as info:
        BaseScheduler().schedule(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert info.value.code == 2
    assert not out.exists(), "something was written before the check"
    return lines[0]


@pytest.mark.parametrize("key, value, expected", [
    ("solver.test_per_batch", "0", "solver.test_per_batch must be in [1, 1,048,576], got 0"),
    ("solver.train_per_batch", str(10**9), "solver.train_per_batch must be in [1, 1,048,576], got 1000000000"),
    ("solver.checkpoint_period", "0", "solver.checkpoint_period must be >= 1, got 0"),
    ("solver.eval_period", "-1", "solver.eval_period must be >= 0, got -1 (0 = evaluate only at the end)"),
    ("solver.max_iter", "0", "solver.max_iter must be in [1, 1,000,000,000], got 0"),
    ("solver.max_iter", "-3", "solver.max_iter must be in [1, 1,000,000,000], got -3"),
    ("solver.max_iter", str(10**30), "solver.max_iter must be in [1, 1,000,000,000], got a 31-digit number"),
    ("dataloader.num_workers", "-1", "dataloader.num_workers must be in [0, 1024], got -1"),
    ("seed", str(2**64), "seed must be in [0, 9,223,372,036,854,775,807], got 18446744073709551616"),
    ("seed", "-1", "seed must be in [0, 9,223,372,036,854,775,807], got -1"),
])
def test_value_out_of_range(tmp_path, capsys, key, value, expected):
    assert expected in run(tmp_path, capsys, DIGITS_PY, key, value)


def test_eval_period_zero_means_only_at_the_end(tmp_path):
    assert load_cfg(DIGITS_PY, ["solver.eval_period", "0"]).SOLVER.EVAL_PERIOD == 0


def test_a_huge_number_is_summarised(tmp_path):
    with pytest.raises(ConfigError, match="got a 101-digit number"):
        load_cfg(DIGITS_PY, ["solver.max_iter", str(10**100)])


def test_duplicate_yaml_key(tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("solver:\n  max_iter: 5\ntrainer:\n  device: cpu\nsolver:\n  train_per_batch: 4\n")
    line = run(tmp_path, capsys, path)
    assert f"config file '{path}', line 5: duplicate key 'solver' (first at line 1)" in line


def test_duplicate_nested_yaml_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("solver:\n  max_iter: 5\n  max_iter: 6\n")
    with pytest.raises(ConfigError, match="line 3: duplicate key 'max_iter'"):
        load_cfg(str(path))


def test_a_yaml_merge_key_may_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("solver:\n  <<: {max_iter: 5, train_per_batch: 2}\n  max_iter: 7\n")
    cfg = load_cfg(str(path))
    assert cfg.SOLVER.MAX_ITER == 7 and cfg.SOLVER.TRAIN_PER_BATCH == 2


def test_python_config_calling_sys_exit(tmp_path, capsys):
    path = tmp_path / "exits.py"
    path.write_text("import sys\nsolver = dict(max_iter=5)\nsys.exit(0)\n")
    line = run(tmp_path, capsys, path)
    assert f"config file '{path}', line 3: the file called sys.exit(0)" in line


def test_python_config_that_prints_instead_of_defining(tmp_path, capsys):
    path = tmp_path / "prints.py"
    path.write_text("print('solver.max_iter = 5')\n")
    line = run(tmp_path, capsys, path)
    assert "printed instead of defining settings (first line printed: 'solver.max_iter = 5')" in line


def test_python_config_that_prints_and_defines_is_read(tmp_path, capsys):
    path = tmp_path / "chatty.py"
    path.write_text("print('hello')\nsolver = dict(max_iter=5)\n")
    assert load_cfg(str(path)).SOLVER.MAX_ITER == 5
    assert "hello" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["bin.yaml", "bin.py"])
def test_binary_file_is_one_line_with_the_path_and_a_line(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_bytes(b"solver = 1\n\x7fELF\x00\x01\x02")
    line = run(tmp_path, capsys, path)
    assert f"config file '{path}', line 2: contains NUL bytes" in line
    assert "None" not in line


@pytest.mark.parametrize("name", ["latin.yaml", "latin.py"])
def test_latin1_file_is_one_line_with_the_path(tmp_path, capsys, name):
    path = tmp_path / name
    text = "output_log_name: caf\xe9\n" if name.endswith("yaml") else "output_log_name = 'caf\xe9'\n"
    path.write_bytes(("# first\n" + text).encode("latin-1"))
    line = run(tmp_path, capsys, path)
    assert f"config file '{path}', line 2, column " in line and "not utf-8 text (byte 0xe9)" in line


def test_python_coding_cookie_is_honoured(tmp_path):
    path = tmp_path / "cookie.py"
    path.write_bytes("# -*- coding: latin-1 -*-\noutput_log_name = 'caf\xe9'\n".encode("latin-1"))
    assert load_cfg(str(path)).OUTPUT_LOG_NAME == "caf\xe9"


def test_nothing_written_for_a_bad_value_under_torchrun_style_spawn(tmp_path, capsys):
    """--num-gpus 2 on CPU: the value is refused in the launching process."""
    run(tmp_path, capsys, DIGITS_PY, "--num-gpus", "2", "trainer.device", "cpu", "solver.max_iter", "0")
    assert not os.path.exists(tmp_path / "out")


# ------------------------------------------------------------------ keys spelled in two cases (issue 25)
def test_sections_differing_only_in_case_are_merged_in_yaml(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text("solver: {train_per_batch: 4}\nSOLVER: {max_iter: 7}\n")
    cfg = load_cfg(str(path))
    assert cfg.SOLVER.TRAIN_PER_BATCH == 4 and cfg.SOLVER.MAX_ITER == 7


def test_sections_differing_only_in_case_are_merged_in_python(tmp_path):
    path = tmp_path / "case.py"
    path.write_text("solver = dict(train_per_batch=4, max_iter=7)\nSOLVER = dict(MAX_ITER=7, eval_period=3)\n"
                    "trainer = dict(model=dict(ema=dict(enabled=True), EMA=dict(decay_rate=0.7)))\n")
    cfg = load_cfg(str(path))
    assert (cfg.SOLVER.TRAIN_PER_BATCH, cfg.SOLVER.MAX_ITER, cfg.SOLVER.EVAL_PERIOD) == (4, 7, 3)
    assert cfg.TRAINER.MODEL.EMA.ENABLED is True and cfg.TRAINER.MODEL.EMA.DECAY_RATE == 0.7


@pytest.mark.parametrize("name, text, spellings", [
    ("dict.py", "solver = dict(max_iter=3, MAX_ITER=8)\n", "solver.max_iter and solver.MAX_ITER"),
    ("top.py", "solver = dict(max_iter=3)\nSOLVER = dict(max_iter=8)\n", "solver.max_iter and SOLVER.max_iter"),
    ("top.yaml", "solver: {max_iter: 3}\nSolver: {max_iter: 8}\n", "solver.max_iter and Solver.max_iter"),
])
def test_one_key_in_two_cases_with_different_values_is_refused_naming_both(tmp_path, capsys, name, text, spellings):
    path = tmp_path / name
    path.write_text(text)
    line = run(tmp_path, capsys, path)
    assert f"config file '{path}': {spellings} are one key" in line and "(3 and 8)" in line


def test_one_key_in_two_cases_inside_an_override_value(tmp_path):
    with pytest.raises(ConfigError, match=r"max_iter and MAX_ITER are one key .* \(3 and 8\)"):
        load_cfg(DIGITS_PY, ["solver", "{'max_iter': 3, 'MAX_ITER': 8}"])


# ------------------------------------------------------------------ numbers no tensor holds (issue 25)
@pytest.mark.parametrize("overrides, expected", [
    (["solver.generator.optimizer.params.lr", "1e308"],
     "solver.generator.optimizer.params.lr = 1e+308 is beyond the float32 range"),
    (["solver.generator.optimizer.params.lr", "-1e39"], "params.lr = -1e+39 is beyond the float32 range"),
    (["solver.generator.optimizer.params.betas", f"(0.9, {10**400})"], "params.betas[1] = a 401-digit number"),
    (["trainer.model.ema.decay_rate", "1e39"], "trainer.model.ema.decay_rate = 1e+39 is beyond"),
])
def test_numbers_beyond_float32_or_int64_are_refused_naming_the_key(tmp_path, capsys, overrides, expected):
    assert expected in run(tmp_path, capsys, DIGITS_PY, *overrides)


@pytest.mark.parametrize("name, text", [
    ("inf.yaml", "solver:\n  generator:\n    optimizer:\n      params:\n        lr: .inf\n"),
    ("nan.yaml", "solver:\n  generator:\n    optimizer:\n      params:\n        lr: .nan\n"),
    ("inf.py", "solver = dict(generator=dict(optimizer=dict(params=dict(lr=float('-inf')))))\n"),
])
def test_non_finite_numbers_are_refused_naming_the_key(tmp_path, capsys, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert "solver.generator.optimizer.params.lr must be a finite number, got " in run(tmp_path, capsys, path)
