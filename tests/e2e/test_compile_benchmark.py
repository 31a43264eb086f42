"""benchmarks/compile_speed.py runs end to end (one short turn): every variant it names is
built, warmed up and timed, and a variant it does not know is refused in one line."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "compile_speed.py")


@pytest.mark.slow  # 41 s with inductor's cache empty (as on CI), most of it compiling the example
def test_the_compile_benchmark_times_each_variant(tmp_path):
    out = tmp_path / "compile.json"
    done = subprocess.run([sys.executable, SCRIPT, "--examples", "segmentation", "--variants", "eager,compiled",
                           "--pairs", "2", "--chunk", "1", "--warmup", "1", "--batches", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = json.loads(out.read_text())["results"]
    assert [v["variant"] for v in result["variants"]] == ["eager", "compiled"]
    assert all(v["ms"] > 0 and v["speedup"] > 0 for v in result["variants"])
    assert result["variants"][0]["speedup"] == 1.0  # the first is the baseline


def test_an_unknown_variant_or_example_is_refused():
    for flag, value, message in (("--variants", "eager,fast", "--variants: fast; take any of eager, eager+cl"),
                                 ("--examples", "segmentation,gan", "--examples: gan; take any of segmentation")):
        done = subprocess.run([sys.executable, SCRIPT, flag, value], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr
