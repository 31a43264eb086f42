"""The engine's loop against the hand-written one, both in one process, in alternating chunks.

Why: on a shared or virtual machine the speed of identical runs moves by 20-40 % from
one minute to the next (CPU steal, frequency, neighbours), so separate runs
(``loop_overhead.py``) cannot resolve a 2 % difference. Here one process builds both:
the engine (``load_cfg`` -> ``build_trainer`` -> ``train()``, evaluation and periodic
checkpoints off, no progress bar) and ``hand_loop.HandLoop``. A hook that runs after
every other one (``after_step``, lowest priority) runs ``--chunk`` iterations of the hand
loop every ``--chunk`` engine iterations, so the two take turns: engine chunk, hand
chunk, engine chunk... Each engine chunk is timed from the end of one hand chunk to the
start of the next, so everything the engine does between steps (sampler, hooks, event
store, writers, checkpoint and stop checks) is in it. Each pair of neighbouring chunks
saw nearly the same machine; the ratio per pair, then its median and a bootstrap 95 %
interval over the pairs, is what is reported. The first ``--warmup-chunks`` pairs are
left out (worker start-up, allocator warm-up).

``--nproc 2`` runs the same in two processes joined in a gloo group on this machine:
the engine trains with DistributedDataParallel over its ``world_size`` 2 loader and the
hand loop with ``DistributedSampler`` + ``DistributedDataParallel``; the ranks step in
lockstep (every step all-reduces), rank 0's times are reported.

``--clock cpu`` times each turn in this process's CPU seconds (``time.process_time``:
every thread of the process, not the loader's worker processes) instead of wall
seconds. On a machine whose cores other jobs share, a turn's wall time includes the
time the process waited for a core, which grows with the neighbours' load and not with
the loop; its CPU time is the loop's own cost (use it with ``--num-workers 0``, so that
loading is in it too).

Run from the repository root (the numbers in doc/benchmarks.md)::

    python benchmarks/loop_interleaved.py --threads 1 --num-workers 0
    python benchmarks/loop_interleaved.py --threads 1 --num-workers 2
    python benchmarks/loop_interleaved.py --threads 1 --num-workers 0 --nproc 2
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

from bench_stats import bootstrap_median
from loop_overhead import DEFAULT_CONFIG  # importing it also puts the repository on sys.path


def measure(args) -> dict:
    """One process's run: per chunk pair, the engine's and the hand loop's seconds."""
    import torch

    import codes  # noqa: F401  (registers the digits components)
    from engine.trainer.hooks import HookBase
    from engine.trainer.hooks.base import Priority
    from hand_loop import train_beside

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    iters = args.chunk * args.pairs
    times = {"engine": [], "hand": []}
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    class TakeTurns(HookBase):
        """After every ``chunk`` engine iterations, ``chunk`` hand iterations."""
        priority = Priority.LOWEST + 1

        def __init__(self, hand):
            self.hand, self.mark = hand, None

        def before_step(self):
            if self.mark is None:
                self.mark = clock()

        def after_step(self):
            if (self.trainer.iter + 1) % args.chunk:
                return
            now = clock()
            times["engine"].append(now - self.mark)
            self.hand.steps(args.chunk)
            self.mark = clock()
            times["hand"].append(self.mark - now)

    trainer, hand = train_beside(args.config, iters, args.num_workers, TakeTurns, augment=args.hand_augment)
    accuracy = {"engine": trainer.latest_eval.get("accuracy"), "hand": hand.finish()}
    w = args.warmup_chunks
    return {"engine_s": times["engine"][w:], "hand_s": times["hand"][w:], "accuracy": accuracy,
            "torch_threads": torch.get_num_threads()}


def _distributed(rank: int, args, port: int, queue) -> None:
    import torch.distributed as dist

    from engine.utils import comm

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=args.nproc)
    comm.set_local_info(rank, args.nproc)
    try:
        result = measure(args)
        if rank == 0:
            queue.put(result)
    finally:
        dist.destroy_process_group()


def run_once(args) -> dict:
    if args.nproc == 1:
        return measure(args)
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_distributed, args=(args, port, queue), nprocs=args.nproc, start_method="spawn")
    return queue.get()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--chunk", type=int, default=50, help="iterations per turn")
    parser.add_argument("--pairs", type=int, default=16, help="engine/hand turns per run")
    parser.add_argument("--warmup-chunks", type=int, default=2, help="first pairs left out")
    parser.add_argument("--runs", type=int, default=2, help="runs (fresh processes' worth of pairs)")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's choice)")
    parser.add_argument("--nproc", type=int, default=1, help="processes in a gloo group (DDP)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time turns in wall seconds or in this process's CPU seconds")
    parser.add_argument("--hand-augment", choices=["unseeded", "keyed"], default="unseeded",
                        help="the hand loop's augmentation: NumPy's global stream (timm's way), or one "
                             "generator per (seed, epoch, index) as the engine gives (hand_loop.py)")
    parser.add_argument("--json", default="", help="also write all numbers to this file")
    args = parser.parse_args(argv)
    if args.pairs <= args.warmup_chunks:
        parser.error("--pairs must exceed --warmup-chunks")

    import torch

    runs = [run_once(args) for _ in range(args.runs)]
    engine = [t for r in runs for t in r["engine_s"]]
    hand = [t for r in runs for t in r["hand_s"]]
    ratios = [e / h for e, h in zip(engine, hand)]
    low, high = bootstrap_median(ratios)
    summary = {
        "command": " ".join(["python", "benchmarks/loop_interleaved.py"]
                            + list(argv if argv is not None else sys.argv[1:])),
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
                    "torch_threads": runs[0]["torch_threads"]},
        "chunk": args.chunk, "pairs": len(ratios), "num_workers": args.num_workers, "nproc": args.nproc,
        "clock": args.clock, "hand_augment": args.hand_augment,
        "engine_ms_per_iter": [1e3 * t / args.chunk for t in engine],
        "hand_ms_per_iter": [1e3 * t / args.chunk for t in hand],
        "ratio": ratios,
        "median_ratio": statistics.median(ratios), "median_ratio_95": [low, high],
        "ratio_of_sums": sum(engine) / sum(hand),
        "accuracy": [r["accuracy"] for r in runs],
    }
    e_ms, h_ms = summary["engine_ms_per_iter"], summary["hand_ms_per_iter"]
    print(f"{args.nproc} process(es), num_workers {args.num_workers}, {args.clock} clock, torch threads "
          f"{summary['machine']['torch_threads']}, {len(ratios)} pairs of {args.chunk}-iteration turns "
          f"({args.runs} runs); hand augmentation {args.hand_augment}")
    print(f"{'':22}{'min':>9}{'median':>9}{'max':>9}")
    for label, values in (("engine ms/iter", e_ms), ("hand ms/iter", h_ms), ("ratio engine/hand", ratios)):
        print(f"{label:22}" + "".join(f"{v:9.3f}" for v in (min(values), statistics.median(values), max(values))))
    print(f"median ratio {summary['median_ratio']:.3f} (95 % interval {low:.3f}-{high:.3f}); "
          f"ratio of total times {summary['ratio_of_sums']:.3f}")
    print("final val accuracy: " + ", ".join(f"engine {a['engine']:.3f} / hand {a['hand']:.3f}"
                                              for a in summary["accuracy"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
