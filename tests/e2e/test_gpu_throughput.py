"""benchmarks/gpu_throughput.py runs end to end on the CPU (a ResNet-18 on the JPEG
pipeline here; the full CPU command, every pipeline and variant, is marked slow: ~20
minutes on 2 busy cores, most of it compiling ResNet-50) and exits 0 with a message when
asked for CUDA on a machine without it."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_throughput.py")
sys.path.insert(0, os.path.dirname(SCRIPT))

import gpu_throughput  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asked_for_cuda_without_it_it_says_so_and_exits_0(capsys):
    assert gpu_throughput.main([]) == 0
    assert "CUDA is not available on this machine: nothing measured" in capsys.readouterr().out


def test_a_small_cpu_run_times_both_loops_on_the_jpeg_pipeline(tmp_path, capsys):
    out = tmp_path / "numbers.json"
    assert gpu_throughput.main(["--device", "cpu", "--arch", "resnet18", "--image-size", "32", "--batch-size", "2",
                                "--images", "4", "--workers", "0", "--warmup", "1", "--steps", "1",
                                "--pipelines", "jpeg", "--variants", "eager", "--threads", "1",
                                "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [(r["pipeline"], r["variant"]) for r in results] == [("jpeg", "eager")]
    assert all(r["engine_img_s"] > 0 and r["hand_img_s"] > 0 and r["chunks"] == 1 for r in results)
    assert "engine img/s" in capsys.readouterr().out


@pytest.mark.slow
def test_the_cpu_command_runs_every_variant_end_to_end(tmp_path):
    out = tmp_path / "numbers.json"
    done = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--steps", "5", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert len(results) == 8 and all(r["engine_img_s"] > 0 and r["hand_img_s"] > 0 for r in results)
