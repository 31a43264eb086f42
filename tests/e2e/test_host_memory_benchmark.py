"""benchmarks/host_memory.py: both settings of ``trainer.reuse_host_memory`` in fresh
processes, alternately (the full comparison is in doc/benchmarks.md)."""
import json
import os
import sys

import pytest

from conftest import ROOT, refused_each

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import host_memory  # noqa: E402


def test_too_few_iterations_or_an_unknown_workload_is_refused(capsys):
    refused_each(host_memory.main, (["--iters", "20"], ["--workloads", "mnist"], ["--rounds", "0"]))
    assert "unknown workload ['mnist']" in capsys.readouterr().err


@pytest.mark.slow  # ~25 s: a ResNet-18 trained 60 iterations twice, in two processes
def test_one_round_runs_both_settings_and_the_kept_memory_stops_the_page_faults(tmp_path):
    out = tmp_path / "numbers.json"
    assert host_memory.main(["--workloads", "resnet18", "--rounds", "1", "--threads", "1",
                             "--json", str(out)]) == 0
    runs = {r["reuse"]: r for r in json.loads(out.read_text())["runs"]}
    assert set(runs) == {True, False} and all(r["iter_ms"] > 0 for r in runs.values())
    assert runs[False]["faults_per_iter"] > 5 * runs[True]["faults_per_iter"]
