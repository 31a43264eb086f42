"""benchmarks/tensorboard_record.py: the engine's TensorBoard record against add_scalar per
scalar (the timings are in doc/benchmarks.md); here, that it runs and both files agree."""
import os
import sys


from conftest import ROOT, refused_each

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import tensorboard_record  # noqa: E402


def test_a_count_below_one_is_refused(capsys):
    refused_each(tensorboard_record.main, (["--rounds", "0"], ["--records", "0"], ["--scalars", "-1"]))
    assert "--scalars must be at least 1, got -1" in capsys.readouterr().err


def test_both_writers_leave_the_same_scalars_and_the_numbers_are_printed(capsys):
    assert tensorboard_record.main(["--rounds", "2", "--records", "3", "--scalars", "4"]) == 0
    out = capsys.readouterr().out
    assert "same scalars read back: True" in out and "speed-up" in out


def test_the_comparison_reads_the_scalars_back(tmp_path):
    """The check that the two files agree is a real one: a record missing from one fails it."""
    writer = tensorboard_record.engine_writer(str(tmp_path / "a"))
    other = tensorboard_record.PerScalar(str(tmp_path / "b"))
    for step in range(3):
        writer.write(tensorboard_record.record_of(step, 2), step)
        if step < 2:
            other.write(tensorboard_record.record_of(step, 2), step)
    writer.close()
    other.close()
    a, b = tensorboard_record.read_back(str(tmp_path / "a")), tensorboard_record.read_back(str(tmp_path / "b"))
    assert set(a) == {"train/loss_0", "train/loss_1"} and len(a["train/loss_0"]) == 3
    assert a != b and a["train/loss_1"][:2] == b["train/loss_1"]
