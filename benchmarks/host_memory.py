"""``trainer.reuse_host_memory`` on and off: CPU training steps, page faults and system time.

Why a process per run: glibc's malloc thresholds are process-wide and cannot be put back,
so each run is a fresh process (``--child``) that builds the engine's trainer from the
config with the switch on or off, trains ``--iters`` iterations and reports, for the
training alone (not the imports and set-up), the median logged ``iter_time`` after the
first log period, its page faults and its system and user CPU seconds per iteration, and
the process's peak resident memory (what keeping freed memory costs).
The parent runs the two settings alternately, ``--rounds`` times per workload, so that
neighbouring runs saw the same machine, and reports per workload the medians and the
median over rounds of off / on iteration time with a bootstrap 95 % interval.

Workloads: ``resnet18`` (torchvision's ResNet-18, random init, on one synthetic 64 px image
repeated, batch 8, SGD: benchmarks/throughput_parts.py's dataset and bundle) and
``segmentation`` (the example, codes/configs/digits_seg.py).

Run from the repository root (numbers in doc/benchmarks.md)::

    python benchmarks/host_memory.py --rounds 5
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "benchmarks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

WORKLOADS = ("resnet18", "segmentation")


def config_of(workload: str, folder: str) -> str:
    if workload == "segmentation":
        return os.path.join(ROOT, "codes", "configs", "digits_seg.py")
    import gpu_throughput

    args = gpu_throughput.parse(["--device", "cpu", "--arch", "resnet18", "--batch-size", "8", "--workers", "0"])
    return gpu_throughput.engine_config(folder, args, "synthetic", "", "eager")


def child(workload: str, reuse: bool, iters: int, threads: int) -> dict:
    """One run in this process: train, then the training's own numbers."""
    import torch

    import codes  # noqa: F401  (the examples' components)
    import throughput_parts  # noqa: F401  (the ResNet workload's)
    from engine.config import load_cfg
    from engine.trainer.build import build_trainer
    from engine.trainer.hooks import HookBase
    from engine.trainer.hooks.base import Priority
    from engine.utils.rng import seed_all

    usage = {}

    class Usage(HookBase):
        """The process's usage when training starts and after its last step (the final
        evaluation and checkpoint are not part of it)."""
        priority = Priority.LOWEST + 1

        def before_train(self):
            usage["before"] = resource.getrusage(resource.RUSAGE_SELF)

        def after_step(self):
            if self.trainer.iter + 1 == iters:
                usage["after"] = resource.getrusage(resource.RUSAGE_SELF)

    if threads > 0:
        torch.set_num_threads(threads)
    log_period = 10
    with tempfile.TemporaryDirectory(prefix="host_memory_") as folder:
        cfg = load_cfg(config_of(workload, folder), [
            "output_dir", folder, "output_log_name", "run", "trainer.device", "cpu",
            "trainer.progress_bar", "False", "trainer.log_period", str(log_period),
            "trainer.reuse_host_memory", str(reuse), "dataloader.num_workers", "0",
            "solver.max_iter", str(iters), "solver.eval_period", "0", "solver.checkpoint_period", str(iters + 1)])
        seed_all(int(cfg.SEED))
        trainer = build_trainer(cfg)
        trainer.register_hooks([Usage()])
        trainer.train()
        before, after = usage["before"], usage["after"]
        with open(os.path.join(folder, "run", "metrics.jsonl"), encoding="utf-8") as f:
            times = [json.loads(line)["iter_time"] for line in f if '"iter_time"' in line]
    return {"workload": workload, "reuse": reuse, "iter_ms": 1e3 * statistics.median(times[1:]),
            "faults_per_iter": (after.ru_minflt - before.ru_minflt) / iters,
            "sys_ms_per_iter": 1e3 * (after.ru_stime - before.ru_stime) / iters,
            "user_ms_per_iter": 1e3 * (after.ru_utime - before.ru_utime) / iters,
            "max_rss_mb": after.ru_maxrss / 1024,  # the process's peak resident memory so far
            "torch_threads": torch.get_num_threads()}


def run_child(workload: str, reuse: bool, args) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", workload, "--reuse", str(reuse),
                           "--iters", str(args.iters), "--threads", str(args.threads)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"host_memory: the {workload} run (reuse {reuse}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"any of {', '.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=5, help="on/off pairs per workload")
    parser.add_argument("--iters", type=int, default=60, help="training iterations per run")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's choice)")
    parser.add_argument("--json", default="", help="also write every number to this file")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", default="True", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.reuse == "True", args.iters, args.threads)))
        return 0
    from bench_stats import bootstrap_median
    from tabulate import tabulate

    workloads = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown or args.rounds < 1 or args.iters < 60:
        parser.error(f"unknown workload {unknown}" if unknown else "--rounds >= 1 and --iters >= 60 "
                     "(the segmentation example warms its learning rate up over 50)")
    runs, rows = [], []
    for workload in workloads:
        pairs = []
        for i in range(args.rounds):
            order = (True, False) if i % 2 == 0 else (False, True)
            pair = {reuse: run_child(workload, reuse, args) for reuse in order}
            pairs.append(pair)
            print(f"{workload:13} round {i + 1}: on {pair[True]['iter_ms']:.1f} ms/iter, "
                  f"off {pair[False]['iter_ms']:.1f} ms/iter", flush=True)
        runs += [r for pair in pairs for r in pair.values()]
        ratios = [p[False]["iter_ms"] / p[True]["iter_ms"] for p in pairs]
        low, high = bootstrap_median(ratios)

        def median(key, reuse, pairs=pairs):
            return statistics.median(p[reuse][key] for p in pairs)

        rows.append([workload] + [f"{median(key, reuse):.1f}" for key in
                                  ("iter_ms", "faults_per_iter", "sys_ms_per_iter", "user_ms_per_iter",
                                   "max_rss_mb")
                                  for reuse in (False, True)]
                    + [f"{statistics.median(ratios):.3f} ({low:.3f}-{high:.3f})"])
    threads = runs[0]["torch_threads"]
    print(f"\n{args.iters} iterations per run, {args.rounds} on/off pairs per workload, torch threads {threads}, "
          f"num_workers 0; medians over the runs (off = glibc's defaults, on = trainer.reuse_host_memory)")
    print(tabulate(rows, headers=["workload", "ms/iter off", "ms/iter on", "faults/iter off", "faults/iter on",
                                  "sys ms/iter off", "sys ms/iter on", "user ms/iter off", "user ms/iter on",
                                  "peak RSS MB off", "peak RSS MB on", "off / on time (95 %)"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"command": " ".join(["python", "benchmarks/host_memory.py"] + list(argv or sys.argv[1:])),
                       "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
