"""benchmarks/augment.py runs through the seed's path on a tiny setting, and the interval
the side-by-side benchmarks report beside a median ratio (benchmarks/bench_stats.py)
brackets it. albumentations is a benchmark-only dependency: its side runs only where it
is installed."""
import importlib.util
import json
import os
import sys

import cv2
import pytest
import torch

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import augment  # noqa: E402
from bench_stats import bootstrap_median  # noqa: E402

HAS_ALBUMENTATIONS = importlib.util.find_spec("albumentations") is not None


@pytest.fixture(autouse=True)
def threads_as_they_were():
    """augment.main times on one thread (OpenCV and torch); the next tests in this process
    get the counts they had."""
    cv2_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    yield
    cv2.setNumThreads(cv2_threads)
    torch.set_num_threads(torch_threads)


def test_the_median_interval_brackets_the_median_and_is_a_point_for_equal_values():
    assert bootstrap_median([1.25] * 9) == (1.25, 1.25)
    ratios = [0.9, 0.95, 1.0, 1.02, 1.05, 1.1, 1.3, 0.97, 1.01]
    low, high = bootstrap_median(ratios)
    assert low < 1.01 < high  # 1.01: the median
    assert low > min(ratios) or high < max(ratios)  # the median's spread, not the values' range
    assert bootstrap_median(ratios, seed=3) == bootstrap_median(ratios, seed=3)  # seeded: repeatable


def test_engine_only_rows_time_the_seed_path_and_its_opencv_floor(tmp_path, capsys):
    out = tmp_path / "augment.json"
    table = augment.main(["--engine-only", "--ops", "HorizontalFlip", "Normalize", "--rounds", "1",
                          "--images", "1", "--reps", "1", "--json", str(out)])
    assert [(r["op"], r["mask"]) for r in table] == [
        ("HorizontalFlip", False), ("HorizontalFlip", True), ("Normalize", False), ("Normalize", True)]
    assert all(r["engine"] > 0 and r["bare_opencv"] > 0 and "ratio" not in r for r in table)
    assert json.loads(out.read_text())["rows"] == table
    assert "HorizontalFlip" in capsys.readouterr().out


@pytest.mark.skipif(not HAS_ALBUMENTATIONS, reason="albumentations: pip install -r benchmarks/requirements.txt")
def test_rows_against_albumentations_carry_the_ratio_and_its_interval(capsys):
    table = augment.main(["--ops", "HorizontalFlip", "--rounds", "3", "--images", "1", "--reps", "1"])
    for row in table:
        low, high = row["ratio_95"]
        assert low <= row["ratio"] <= high and row["worst"] <= row["ratio"]
    assert "95 %" in capsys.readouterr().out
