"""``trainer.compile`` on the CPU: the compiled step against the eager one, side by side in
one process, on the segmentation and detection examples (codes/configs/digits_seg.py,
digits_det.py), in either memory format.

For each example one trainer per ``--variants`` entry is built from the same config and
seed: ``eager``, ``eager+cl`` (``trainer.channels_last True``), ``compiled``
(``trainer.compile True``, which keeps the config's memory format) and ``compiled+cl``.
``--batches`` training batches are loaded once per variant (through its own device
stage: channels_last inputs for the ``+cl`` ones) and cycled, so what is timed is the
engine's step (``run_step``: the bundle's forward, loss, backward and optimizer step, the
step's records), not the data pipeline, which neither switch touches and all would share.
The first ``--warmup`` steps of each (the compilation, for the compiled ones) are timed
apart; then the variants take turns in chunks of ``--chunk`` steps, the order reversed
every other turn, as ``loop_interleaved.py`` does, so that neighbouring chunks saw the
same machine. Reported per variant: ms per step (median over turns), the median over
turns of the first variant's time / the variant's (its speed-up over the first), and
the warm-up seconds.

Run from the repository root (numbers in doc/benchmarks.md)::

    python benchmarks/compile_speed.py --threads 1
    python benchmarks/compile_speed.py --variants eager,compiled --examples segmentation
"""
import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

EXAMPLES = {"segmentation": "codes/configs/digits_seg.py", "detection": "codes/configs/digits_det.py"}


VARIANTS = {"eager": (False, False), "eager+cl": (False, True), "compiled": (True, False),
            "compiled+cl": (True, True)}  # name: (trainer.compile, trainer.channels_last)


def build(config: str, out: str, variant: str):
    from engine.config import load_cfg
    from engine.trainer.build import build_trainer
    from engine.utils.rng import seed_all

    compiled, channels_last = VARIANTS[variant]
    cfg = load_cfg(os.path.join(ROOT, config), [
        "output_dir", out, "output_log_name", variant.replace("+", "_"), "trainer.device", "cpu",
        "trainer.compile", str(compiled), "trainer.channels_last", str(channels_last),
        "dataloader.num_workers", "0", "trainer.progress_bar", "False",
        "dataloader.train_data_set.num_scenes", "64", "dataloader.val_data_set.num_scenes", "8"])
    seed_all(int(cfg.SEED))
    return build_trainer(cfg)


def timed(trainer, batches, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.run_step(batches, 1)
        trainer.iter += 1
    return time.perf_counter() - start


def measure(name: str, config: str, variants, args) -> dict:
    from engine.data.build import build_train_loader

    with tempfile.TemporaryDirectory(prefix="compile_speed_") as out:
        trainers = {v: build(config, out, v) for v in variants}
        first = trainers[variants[0]]
        feeds = {}
        for v, trainer in trainers.items():  # each its own loader: its device stage (channels_last or not)
            loader, _ = build_train_loader(trainer.train_set, trainer.cfg, start_iter=0, device=trainer.model.device)
            stream = iter(loader)
            feeds[v] = itertools.cycle([next(stream) for _ in range(args.batches)])
            del stream, loader
        warmup = {v: timed(t, feeds[v], args.warmup) for v, t in trainers.items()}
        times = {v: [] for v in variants}
        for turn in range(args.pairs):
            for v in (variants if turn % 2 == 0 else variants[::-1]):
                times[v].append(timed(trainers[v], feeds[v], args.chunk))
    rows = []
    for v in variants:
        speedups = [b / t for b, t in zip(times[variants[0]], times[v])]
        rows.append({"variant": v, "ms": 1e3 * statistics.median(times[v]) / args.chunk,
                     "speedup": statistics.median(speedups), "speedup_range": [min(speedups), max(speedups)],
                     "warmup_s": warmup[v]})
    return {"example": name, "config": config, "batch": int(first.cfg.SOLVER.TRAIN_PER_BATCH), "variants": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES), help=f"any of {', '.join(EXAMPLES)}")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"any of {', '.join(VARIANTS)}; speed-ups are over the first")
    parser.add_argument("--batches", type=int, default=8, help="training batches loaded once and cycled")
    parser.add_argument("--warmup", type=int, default=5, help="steps of each before timing (compilation)")
    parser.add_argument("--chunk", type=int, default=10, help="steps per turn")
    parser.add_argument("--pairs", type=int, default=8, help="turns of each")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's choice)")
    parser.add_argument("--json", default="", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(f"--variants: {', '.join(unknown) or 'none given'}; take any of {', '.join(VARIANTS)}")
    examples = [e for e in args.examples.split(",") if e]
    unknown = [e for e in examples if e not in EXAMPLES]
    if unknown or not examples:
        parser.error(f"--examples: {', '.join(unknown) or 'none given'}; take any of {', '.join(EXAMPLES)}")

    import torch
    from tabulate import tabulate

    import codes  # noqa: F401  (registers the examples)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    results = [measure(name, EXAMPLES[name], variants, args) for name in examples]
    print(f"trainer.compile on the CPU ({platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)): {args.pairs} turns of {args.chunk} steps each")
    print(tabulate([[r["example"] if i == 0 else "", r["batch"] if i == 0 else "", v["variant"], f"{v['ms']:.1f}",
                     f"{v['speedup']:.2f}x ({v['speedup_range'][0]:.2f}-{v['speedup_range'][1]:.2f})",
                     f"{v['warmup_s']:.1f}"] for r in results for i, v in enumerate(r["variants"])],
                   headers=["example", "batch", "variant", "ms/step", f"speed-up over {variants[0]} (range)",
                            f"first {args.warmup} steps s"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"command": " ".join(["python", "benchmarks/compile_speed.py"] + sys.argv[1:]),
                       "torch": torch.__version__, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
