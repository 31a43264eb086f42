"""ResNet-50 training throughput on one GPU: the engine's loop against a hand-written
timm-style loop, in one process, eager and compiled, channels_last off and on.

For each pipeline (``synthetic``: one decoded image repeated, no decoding; ``jpeg``: a
folder of JPEGs written to a temporary folder, decoded + RandomResizedCrop + horizontal
flip in the workers) and each of its variants (eager/compiled x channels_last off/on) the
script builds the engine (``load_cfg`` -> ``build_trainer`` -> ``train()``: bfloat16
autocast, SGD, uint8 batches normalised on the device, ``trainer.compile``,
``trainer.channels_last``) and the hand loop (throughput_parts.py; compiled, with the
engine's own ``nn.Module.compile`` options for that variant), then lets them take
turns as ``loop_interleaved.py`` does: a hook after the engine's step runs ``--chunk``
hand steps every ``--chunk`` engine steps, the other loop's loader workers paused meanwhile
(``throughput_parts.Turns``: otherwise each turn would start with ``workers x
prefetch_factor`` batches ready and the JPEG rows would time the device, not the input
pipeline). Neighbouring chunks saw the same machine; the
ratio per pair of chunks, then its median, is reported with each loop's images/s (the
device synchronised at every chunk edge) and its peak memory (CUDA: the peak allocated
during its own chunks, which includes the other loop's weights and optimizer state, ~0.3
GB for ResNet-50; CPU: the process's peak RSS, the same for both). ``--warmup`` steps of
each loop (compilation, cudnn autotuning, worker start) come first, untimed; their
seconds are reported as ``warmup_s``.

The default plan is 6 measurements: the 4 variants on ``synthetic`` (where the loop and
the device are all there is), ``eager`` and ``eager+cl`` on ``jpeg`` (it measures the
input side, which compile does not change; its two compiled variants would add ~90 s:
their steps, and four compiles from the caches). ``--variants`` runs the variants given
on every pipeline.

Time budget of the default run on one H100, an ESTIMATE until measured on a GPU (printed
at the start of a CUDA run; :data:`BUDGET`, :func:`estimate_s`), ~265 s of the 300 s
allowed:

* steps: 6 measurements x 2 loops x (5 warm-up + 40 timed) steps x 256 images = 138,240
  images at >= 2,000 img/s (a floor: eager contiguous bfloat16, or the JPEG workers) = 69 s;
* compilation: the engine's 2 cold inductor compiles of ResNet-50 forward + backward
  (``compiled`` and ``compiled+cl`` are different graphs), ~60 s each = 120 s; the hand
  loop's 2 compiles of the same graphs with the same options, from the caches the
  engine's filled (dynamo still traces), ~15 s each = 30 s (on the 2-core CPU machine
  of the CPU run: engine 65 s cold, hand 14-15 s);
* set-up: ~5 s per measurement (two ResNet-50s built, 2 x 12 workers started, cudnn
  autotuning) = 30 s, and ~15 s to start (imports, CUDA, 512 JPEGs written).

The cold compiles are the least certain part: at 90 s each the run would take ~325 s;
should it, run ``--pipelines synthetic`` and ``--pipelines jpeg`` as two commands.

One command on a GPU machine (figures into doc/benchmarks.md)::

    python benchmarks/gpu_throughput.py --json gpu_throughput.json

On the CPU, to check that it runs end to end (``--device cpu`` shrinks the defaults; the
same 6 measurements took 4 minutes on 2 shared cores, inductor's cache empty)::

    python benchmarks/gpu_throughput.py --device cpu --steps 5

Asked for CUDA on a machine without it, it says so and exits 0.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "benchmarks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

VARIANTS = ("eager", "eager+cl", "compiled", "compiled+cl")
PIPELINES = ("synthetic", "jpeg")
#: the variants each pipeline runs unless --variants is given (module docstring)
DEFAULT_VARIANTS = {"synthetic": VARIANTS, "jpeg": ("eager", "eager+cl")}
GPU_DEFAULTS = dict(batch_size=256, image_size=224, images=512, workers=12, steps=40, warmup=5, chunk=10)
#: what the time estimate of a CUDA run assumes (one H100, ResNet-50 at 224 px; not yet
#: measured): images/s of the slowest variant, seconds per cold inductor compile of the
#: forward + backward, per compile answered from the caches, per measurement's set-up,
#: and to start
BUDGET = dict(img_s=2000, cold_compile_s=60, cached_compile_s=15, setup_s=5, start_s=15)
# the CPU run only checks that everything runs: small images, float32 (bfloat16 autocast is
# 10x slower than float32 on a CPU without AVX512-BF16, as this project's machines are)
CPU_DEFAULTS = dict(batch_size=2, image_size=64, images=16, workers=2, steps=5, warmup=1, chunk=5)


def parse(argv):
    paragraphs = __doc__.split("\n\n")
    budget = next(i for i, p in enumerate(paragraphs) if p.startswith("Time budget"))
    parser = argparse.ArgumentParser(description=paragraphs[0], epilog="\n\n".join(paragraphs[budget - 1:budget + 3]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="'cuda' (default) or 'cpu'")
    parser.add_argument("--arch", default="resnet50", help="a torchvision ResNet")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help=f"any of {', '.join(PIPELINES)}")
    parser.add_argument("--variants", default=None,
                        help=f"any of {', '.join(VARIANTS)}, run on every pipeline; default: "
                             + "; ".join(f"{p}: {', '.join(v)}" for p, v in DEFAULT_VARIANTS.items()))
    parser.add_argument("--amp-dtype", default=None, choices=["bfloat16", "float16", "float32"],
                        help="autocast dtype (float32: no autocast); default bfloat16 on CUDA, float32 on the CPU")
    for name, default in GPU_DEFAULTS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"default {default} on CUDA, {CPU_DEFAULTS[name]} on the CPU")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's choice)")
    parser.add_argument("--json", default="", help="also write every number to this file")
    args = parser.parse_args(argv)
    defaults = GPU_DEFAULTS if args.device.startswith("cuda") else CPU_DEFAULTS
    args.amp_dtype = args.amp_dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.chunk = min(args.chunk, args.steps)
    args.pipelines = [p for p in args.pipelines.split(",") if p]
    args.variants = None if args.variants is None else [v for v in args.variants.split(",") if v]
    unknown = [v for v in args.variants or () if v not in VARIANTS] + [
        p for p in args.pipelines if p not in PIPELINES]
    if unknown:
        parser.error(f"unknown pipeline/variant {unknown}")
    #: the (pipeline, variant) pairs measured, in order
    args.plan = [(p, v) for p in args.pipelines for v in (DEFAULT_VARIANTS[p] if args.variants is None
                                                          else args.variants)]
    if min(args.steps, args.warmup, args.batch_size, args.images) < 1:
        parser.error("--steps, --warmup, --batch-size and --images must be at least 1")
    return args


def estimate_s(args) -> dict:
    """The seconds a CUDA run of ``args`` should take on one H100, by part, from
    :data:`BUDGET`'s assumptions (the module docstring's arithmetic): an estimate."""
    compiled = [v for _, v in args.plan if v.startswith("compiled")]
    cold = len(set(compiled))  # one graph per layout, compiled first by the engine; the rest from the caches
    parts = {"steps": len(args.plan) * 2 * (args.warmup + args.steps) * args.batch_size / BUDGET["img_s"],
             "cold_compiles": cold * BUDGET["cold_compile_s"],
             "cached_compiles": (2 * len(compiled) - cold) * BUDGET["cached_compile_s"],
             "setup": len(args.plan) * BUDGET["setup_s"] + BUDGET["start_s"]}
    parts["total"] = sum(parts.values())
    return parts


def lr(batch_size: int) -> float:
    """The linear scaling rule: 0.1 at batch 256 (the same in both loops)."""
    return 0.1 * batch_size / 256


def engine_config(folder: str, args, pipeline: str, images: str, variant: str) -> str:
    """A config file for this pipeline and variant (the engine's public path)."""
    from throughput_parts import MEAN, STD, augment_pipeline

    total = args.warmup + args.steps
    dataset = dict(name="ThroughputImages", folder=images if pipeline == "jpeg" else "", count=args.images,
                   size=args.image_size, transformer=augment_pipeline(args.image_size) if pipeline == "jpeg" else [])
    config = dict(
        output_dir=folder, output_log_name=f"{pipeline}_{variant}", seed=0,
        dataloader=dict(num_workers=args.workers, train_data_set=dataset,
                        device_normalize=dict(mean=MEAN, std=STD)),
        trainer=dict(device=args.device, progress_bar=False, log_period=max(1, total),
                     compile=variant.startswith("compiled"), channels_last=variant.endswith("+cl"),
                     model=dict(name="ThroughputClassifier",
                                generator=dict(name="ThroughputResNet", arch=args.arch))),
        solver=dict(train_per_batch=args.batch_size, max_iter=total, checkpoint_period=total + 1,
                    eval_period=0, amp=dict(enabled=args.amp_dtype != "float32",
                                            dtype="bfloat16" if args.amp_dtype == "float32" else args.amp_dtype),
                    generator=dict(optimizer=dict(type="SGD", params=dict(lr=lr(args.batch_size), momentum=0.9,
                                                                           weight_decay=1e-4)))))
    path = os.path.join(folder, f"{pipeline}_{variant}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{key} = {value!r}\n" for key, value in config.items()))
    return path


def measure(args, folder: str, pipeline: str, images: str, variant: str) -> dict:
    """One pipeline and variant: both loops built, warmed up, then timed in turns (the
    loop not training has its loader workers paused: throughput_parts.Turns)."""
    import copy

    import torch

    import throughput_parts
    from engine.config import load_cfg
    from engine.model.speed import network_compile_options
    from engine.trainer.build import build_trainer
    from engine.trainer.hooks import HookBase
    from engine.trainer.hooks.base import Priority
    from engine.utils.rng import seed_all

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    times = {"engine": [], "hand": []}
    peaks = {"engine": 0.0, "hand": 0.0}
    warmup = {}

    def now():
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter()

    def peak_reset():
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)

    def peak(loop):
        used = (torch.cuda.max_memory_allocated(device) if cuda
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        peaks[loop] = max(peaks[loop], used / 2**20)

    cfg = load_cfg(engine_config(folder, args, pipeline, images, variant))
    seed_all(0)
    trainer = build_trainer(cfg)
    turns = throughput_parts.Turns()
    hand_set = copy.copy(trainer.train_set)  # the same images, its own turn
    trainer.train_set.turn, hand_set.turn = turns.engine, turns.hand
    # the hand loop compiles (or not) with what the engine's config asks of the engine
    hand = throughput_parts.HandLoop(
        hand_set, arch=args.arch, batch_size=args.batch_size, workers=args.workers, device=device,
        compile_kwargs=network_compile_options(cfg.TRAINER.COMPILE, cfg.TRAINER.CHANNELS_LAST),
        channels_last=bool(cfg.TRAINER.CHANNELS_LAST), amp_dtype=getattr(torch, args.amp_dtype),
        lr=lr(args.batch_size))

    class TakeTurns(HookBase):
        """After the engine's warm-up, the hand loop's; then turns of ``--chunk`` steps."""
        priority = Priority.LOWEST + 1

        def __init__(self):
            self.mark = 0.0

        def before_train(self):
            self.mark = now()

        def after_step(self):
            done = self.trainer.iter + 1
            if done == args.warmup:
                warmup["engine"] = now() - self.mark
                start = now()
                with turns.hand_turn():
                    hand.steps(args.warmup)  # noqa: F821 (the closure's; `del hand` below frees it)
                warmup["hand"] = now() - start
            elif done > args.warmup and (done - args.warmup) % args.chunk == 0:
                end = now()
                times["engine"].append(end - self.mark)
                peak("engine")
                peak_reset()
                with turns.hand_turn():
                    hand.steps(args.chunk)  # noqa: F821 (as above)
                self.mark = now()
                times["hand"].append(self.mark - end)
                peak("hand")
                peak_reset()
                return
            else:
                return
            peak_reset()
            self.mark = now()

    trainer.register_hooks([TakeTurns()])
    try:
        trainer.train()
    finally:
        turns.release()
        hand.close()
    float(hand.last_loss)  # the hand loop's last step, as the engine's, finished and finite
    per_chunk = args.chunk * args.batch_size
    ratios = [e / h for e, h in zip(times["engine"], times["hand"])]
    result = {"pipeline": pipeline, "variant": variant, "chunks": len(ratios),
              "engine_img_s": per_chunk * len(times["engine"]) / sum(times["engine"]),
              "hand_img_s": per_chunk * len(times["hand"]) / sum(times["hand"]),
              "engine_per_hand_speed": statistics.median(h / e for e, h in zip(times["engine"], times["hand"])),
              "engine_peak_mb": peaks["engine"], "hand_peak_mb": peaks["hand"],
              "engine_warmup_s": warmup["engine"], "hand_warmup_s": warmup["hand"], "ratios": ratios}
    del trainer, hand
    torch._dynamo.reset()  # each variant compiles afresh, not against the previous one's limits
    if cuda:
        torch.cuda.empty_cache()
    return result


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_throughput: CUDA is not available on this machine: nothing measured "
              "(run it on a GPU machine; --device cpu checks that it runs)")
        return 0
    import throughput_parts

    if args.device.startswith("cuda"):
        budget = estimate_s(args)
        print(f"gpu_throughput: {len(args.plan)} measurements; estimated {budget['total']:.0f} s on one H100 "
              f"(unmeasured: {', '.join(f'{k} {v:.0f} s' for k, v in budget.items() if k != 'total')})",
              flush=True)
    threads = torch.get_num_threads()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="gpu_throughput_") as folder:
            images = ""
            if "jpeg" in args.pipelines:
                images = throughput_parts.write_jpegs(os.path.join(folder, "jpegs"), args.images)
            for pipeline, variant in args.plan:
                results.append(measure(args, folder, pipeline, images, variant))
                r = results[-1]
                print(f"{pipeline:9} {variant:12} engine {r['engine_img_s']:8.1f} img/s  hand "
                      f"{r['hand_img_s']:8.1f} img/s  engine/hand speed {r['engine_per_hand_speed']:.3f}",
                      flush=True)
    finally:
        torch.set_num_threads(threads)
    device = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else cpu_name()
    summarize(args, device, results)
    return 0


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return f"{names[0]} ({len(names)} cores)"
    except (OSError, IndexError):
        return platform.processor() or "CPU"


def summarize(args, device: str, results) -> None:
    import torch
    from tabulate import tabulate

    precision = "float32, no autocast" if args.amp_dtype == "float32" else f"{args.amp_dtype} autocast"
    print(f"\n{args.arch} at {args.image_size} px, batch {args.batch_size}, {precision}, "
          f"{args.workers} workers, {args.steps} timed steps per loop in chunks of {args.chunk}, on {device} "
          f"(torch {torch.__version__})")
    rows = [[r["pipeline"], r["variant"], f"{r['engine_img_s']:.1f}", f"{r['hand_img_s']:.1f}",
             f"{r['engine_per_hand_speed']:.3f}", f"{r['engine_peak_mb']:.0f}", f"{r['hand_peak_mb']:.0f}",
             f"{r['engine_warmup_s']:.1f}", f"{r['hand_warmup_s']:.1f}"] for r in results]
    print(tabulate(rows, headers=["pipeline", "variant", "engine img/s", "hand img/s", "engine/hand",
                                  "engine peak MB", "hand peak MB", "engine warmup s", "hand warmup s"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"command": " ".join(["python", "benchmarks/gpu_throughput.py"] + sys.argv[1:]),
                       "device": device, "torch": torch.__version__, "args": vars(args), "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    sys.exit(main())
