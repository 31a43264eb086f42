"""``trainer.compile`` on the CPU: the compiled step against the eager one, side by side in
one process, on the segmentation and detection examples (codes/configs/digits_seg.py,
digits_det.py).

For each example two trainers are built from the same config and seed, one with
``trainer.compile True``; ``--batches`` training batches are loaded once and cycled, so
what is timed is the engine's step (``run_step``: the bundle's forward, loss, backward
and optimizer step, the step's records), not the data pipeline, which compile does not
touch and both would share. The first ``--warmup`` steps of each (the compilation, for
the compiled one) are timed apart; then the two take turns in chunks of ``--chunk``
steps, as ``loop_interleaved.py`` does, so that neighbouring chunks saw the same machine.
Reported: ms per step of each (median over chunks), the median of the per-chunk
speed-ups (eager time / compiled time), and the warm-up seconds.

Run from the repository root (numbers in doc/benchmarks.md)::

    python benchmarks/compile_speed.py --threads 1
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


def build(config: str, out: str, compiled: bool):
    from engine.config import load_cfg
    from engine.trainer.build import build_trainer
    from engine.utils.rng import seed_all

    cfg = load_cfg(os.path.join(ROOT, config), [
        "output_dir", out, "output_log_name", "compiled" if compiled else "eager", "trainer.device", "cpu",
        "trainer.compile", str(compiled), "dataloader.num_workers", "0", "trainer.progress_bar", "False",
        "dataloader.train_data_set.num_scenes", "64", "dataloader.val_data_set.num_scenes", "8"])
    seed_all(int(cfg.SEED))
    return build_trainer(cfg)


def timed(trainer, batches, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.run_step(batches, 1)
        trainer.iter += 1
    return time.perf_counter() - start


def measure(name: str, config: str, args) -> dict:
    from engine.data.build import build_train_loader

    with tempfile.TemporaryDirectory(prefix="compile_speed_") as out:
        eager, compiled = build(config, out, False), build(config, out, True)
        loader, _ = build_train_loader(eager.train_set, eager.cfg, start_iter=0, device=eager.model.device)
        stream = iter(loader)
        cached = [next(stream) for _ in range(args.batches)]
        del stream, loader
        feeds = {"eager": itertools.cycle(cached), "compiled": itertools.cycle(cached)}
        trainers = {"eager": eager, "compiled": compiled}
        warmup = {k: timed(t, feeds[k], args.warmup) for k, t in trainers.items()}
        times = {"eager": [], "compiled": []}
        for pair in range(args.pairs):
            order = ("eager", "compiled") if pair % 2 == 0 else ("compiled", "eager")
            for key in order:
                times[key].append(timed(trainers[key], feeds[key], args.chunk))
    speedups = [e / c for e, c in zip(times["eager"], times["compiled"])]
    batch = int(eager.cfg.SOLVER.TRAIN_PER_BATCH)
    return {"example": name, "config": config, "batch": batch,
            "eager_ms": 1e3 * statistics.median(times["eager"]) / args.chunk,
            "compiled_ms": 1e3 * statistics.median(times["compiled"]) / args.chunk,
            "speedup": statistics.median(speedups), "speedup_range": [min(speedups), max(speedups)],
            "eager_warmup_s": warmup["eager"], "compiled_warmup_s": warmup["compiled"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES), help=f"any of {', '.join(EXAMPLES)}")
    parser.add_argument("--batches", type=int, default=8, help="training batches loaded once and cycled")
    parser.add_argument("--warmup", type=int, default=5, help="steps of each before timing (compilation)")
    parser.add_argument("--chunk", type=int, default=10, help="steps per turn")
    parser.add_argument("--pairs", type=int, default=6, help="turns of each")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's choice)")
    parser.add_argument("--json", default="", help="also write the numbers to this file")
    args = parser.parse_args(argv)

    import torch
    from tabulate import tabulate

    import codes  # noqa: F401  (registers the examples)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    results = [measure(name, EXAMPLES[name], args) for name in args.examples.split(",") if name]
    print(f"trainer.compile on the CPU ({platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)): {args.pairs} turns of {args.chunk} steps each")
    print(tabulate([[r["example"], r["batch"], f"{r['eager_ms']:.1f}", f"{r['compiled_ms']:.1f}",
                     f"{r['speedup']:.2f}x ({r['speedup_range'][0]:.2f}-{r['speedup_range'][1]:.2f})",
                     f"{r['eager_warmup_s']:.1f}", f"{r['compiled_warmup_s']:.1f}"] for r in results],
                   headers=["example", "batch", "eager ms/step", "compiled ms/step", "speed-up (range)",
                            f"eager first {args.warmup} s", f"compiled first {args.warmup} s"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"command": " ".join(["python", "benchmarks/compile_speed.py"] + sys.argv[1:]),
                       "torch": torch.__version__, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
