"""Time the engine's training loop against a hand-written PyTorch loop doing the same job.

Both train the digits example (``codes/configs/digits.py``) for the same number of
iterations from the same seed: the same ``DigitsDataset`` and transform pipeline (the
config's ``transformer`` list), batch size, ``num_workers``, ``DigitsNet``, AdamW,
warmup + cosine LR, EMA (``AveragedModel`` + ``get_ema_multi_avg_fn``), cross-entropy, and
one ``.item()`` of the loss per step. The engine runs through its public path
(``load_cfg`` -> ``build_trainer`` -> ``train()``) with evaluation and periodic
checkpoints off and no progress bar; the hand loop is what one writes without an engine
(a shuffling ``DataLoader`` with persistent workers, ``LambdaLR``, a log line every
``trainer.log_period`` steps).

Measured, per run (each run in a fresh child process, engine and hand runs alternating):

* ``loop``: seconds per iteration over iterations ``[warmup, iters)``: from the start of
  iteration ``warmup`` (before its batch is fetched) to the end of the last one (after
  its ``.item()``). Worker start-up and the first batches are left out; everything the
  engine does between iterations (sampler, per-sample seeding, stats, logging,
  metrics.jsonl/TensorBoard every log period) is in.
* ``cpu``: CPU seconds per iteration over the same iterations, of the main process and
  its DataLoader workers together. On a machine shared with other programs wall time
  swings by +-20% between identical runs; CPU time is steadier (not immune: a busy
  hyperthread sibling slows every instruction).
* ``whole``: seconds from building (datasets, network, optimizer...) to the end,
  including one final evaluation of the EMA network on the validation split and one
  saved checkpoint, which the engine always does and the hand loop is given too.

The ratio reported is engine / hand, per pair of runs, then the median and the spread
over the pairs. Logging is not configured in the process (as with the hand loop's
``logging.info``), so the engine's log line is formatted but not written; its
metrics.jsonl and TensorBoard records are written.

Run from the repository root::

    python benchmarks/loop_overhead.py --iters 300 --repeats 8 --threads 1
    python benchmarks/loop_overhead.py --num-workers 0 --json /tmp/loop.json

``--threads`` sets torch's intra-op threads in both runs (default: torch's choice, the
number of cores); with 2 cores, 2 workers and 2 threads the cores are oversubscribed and
a busy neighbour makes the threads' spin-waits explode (a 10x slower step), so the
steadiest numbers come from ``--threads 1``. ``benchmarks/loop_parts.py`` times the
parts of an iteration separately, which resolves differences far below this one's noise.

Sanity checks printed with the results: the initial weights of both networks are equal
and the LR both loops used at every iteration agrees.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "benchmarks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

DEFAULT_CONFIG = os.path.join(ROOT, "codes", "configs", "digits.py")


# --------------------------------------------------------------------------- the engine
def run_engine(args) -> dict:
    import torch

    import codes  # noqa: F401  (registers the digits components)
    from engine.config import load_cfg
    from engine.trainer.build import BUILD_TRAINER_REGISTRY, build_trainer
    from engine.trainer.trainer import BaseTrainer
    from engine.utils.rng import seed_all

    stamps = {"after": [], "lr": []}

    class LoopTimingTrainer(BaseTrainer):
        """BaseTrainer with its (empty) seed hooks recording a timestamp."""

        def before_loop(self):
            stamps["init_sum"] = _weight_sum(self.model.g_model)

        def iterate_before(self, epoch):
            if self.iter == args.warmup:
                stamps["start"], stamps["cpu_start"] = time.perf_counter(), cpu_seconds()

        def iterate_after(self, epoch, loss_dict):
            stamps["after"].append(time.perf_counter())
            if self.iter == self.max_iter - 1:
                stamps["cpu_end"] = cpu_seconds()
            stamps["lr"].append(self.model.lr)
            stamps["last_loss"] = sum(loss_dict.values())

    if "LoopTimingTrainer" not in BUILD_TRAINER_REGISTRY:
        BUILD_TRAINER_REGISTRY.register(LoopTimingTrainer)

    with tempfile.TemporaryDirectory(prefix="engine_bench_") as out:
        cfg = load_cfg(args.config, [
            "output_dir", out,
            "trainer.name", "LoopTimingTrainer",
            "trainer.device", "cpu",
            "trainer.progress_bar", "False",
            "dataloader.num_workers", str(args.num_workers),
            "solver.max_iter", str(args.iters),
            "solver.eval_period", "0",
            "solver.checkpoint_period", str(args.iters + 1),
        ])
        seed_all(int(cfg.SEED))  # what the scheduler does before building the trainer
        start = time.perf_counter()
        trainer = build_trainer(cfg)
        trainer.train()
        end = time.perf_counter()
        accuracy = trainer.latest_eval.get("accuracy")
    return _result(stamps, start, end, args.warmup, accuracy, torch)


# --------------------------------------------------------------------------- by hand
def run_hand(args) -> dict:
    import torch

    from hand_loop import HandLoop

    stamps = {"after": [], "lr": []}

    def on_iteration(loop):
        stamps["after"].append(time.perf_counter())
        if loop.it == args.warmup:  # the start of iteration `warmup` (0-based), as the engine's
            stamps["start"], stamps["cpu_start"] = stamps["after"][-1], cpu_seconds()
        if loop.it == args.iters:
            stamps["cpu_end"] = cpu_seconds()
        stamps["lr"].append(loop.lr)
        stamps["last_loss"] = loop.last_loss

    start = time.perf_counter()
    loop = HandLoop(args.config, args.iters, args.num_workers, on_iteration)
    stamps["init_sum"] = loop.init_sum
    loop.steps(args.iters)
    accuracy = loop.finish()  # the engine always ends with one evaluation and model_final.pth
    end = time.perf_counter()
    return _result(stamps, start, end, args.warmup, accuracy, torch)


def cpu_seconds():
    """CPU time (user + system) used so far by this process and by its live DataLoader
    workers, as (main, workers): unlike wall time, it does not grow when other programs
    share the cores."""
    import multiprocessing

    t = os.times()
    main, total = t.user + t.system, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for proc in multiprocessing.active_children():
        try:
            with open(f"/proc/{proc.pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return main, total


def _weight_sum(net) -> float:
    return float(sum(p.detach().double().sum() for p in net.parameters()))


def _result(stamps, start, end, warmup, accuracy, torch) -> dict:
    after = stamps["after"]
    n = len(after)
    return {
        "iters": n,
        "loop_s_per_iter": (after[-1] - stamps["start"]) / (n - warmup),
        "loop_cpu_s_per_iter": (sum(stamps["cpu_end"]) - sum(stamps["cpu_start"])) / (n - warmup),
        "loop_main_cpu_s_per_iter": (stamps["cpu_end"][0] - stamps["cpu_start"][0]) / (n - warmup),
        "whole_s": end - start,
        "init_sum": stamps["init_sum"],
        "lrs": stamps["lr"],
        "last_loss": stamps["last_loss"],
        "accuracy": accuracy,
        "torch_threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------- driver
def child(kind: str, args) -> dict:
    """One run in a fresh interpreter, so neither run inherits the other's state."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind,
           "--config", args.config, "--iters", str(args.iters), "--warmup", str(args.warmup),
           "--num-workers", str(args.num_workers), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(values):
    return min(values), statistics.median(values), max(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--iters", type=int, default=300, help="iterations per run")
    parser.add_argument("--warmup", type=int, default=25,
                        help="first iterations left out of the per-iteration time")
    parser.add_argument("--repeats", type=int, default=5, help="engine/hand run pairs")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="DataLoader workers for both (default: the config's)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads in both (default: torch's own choice)")
    parser.add_argument("--json", default="", help="also write all numbers to this file")
    parser.add_argument("--child", choices=["engine", "hand"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warmup >= args.iters:
        parser.error("--warmup must be smaller than --iters")
    from engine.config.loader import read_config_file

    tree = read_config_file(args.config)
    if args.num_workers is None:
        args.num_workers = int(tree["dataloader"].get("num_workers", 0))
    lr_params = tree["solver"]["generator"]["lr_scheduler"]["params"]
    if args.iters <= lr_params.get("warmup_iter", 0):
        parser.error(f"--iters must exceed the config's warmup_iter ({lr_params['warmup_iter']})")

    if args.child:
        if args.threads > 0:
            import torch
            torch.set_num_threads(args.threads)
        result = (run_engine if args.child == "engine" else run_hand)(args)
        print(json.dumps(result))
        return

    import torch

    runs = {"engine": [], "hand": []}
    for r in range(args.repeats):
        order = ("engine", "hand") if r % 2 == 0 else ("hand", "engine")
        for kind in order:
            runs[kind].append(child(kind, args))
        e, h = runs["engine"][-1], runs["hand"][-1]
        print(f"pair {r + 1}/{args.repeats}: engine {e['loop_s_per_iter'] * 1e3:.2f} ms/iter, "
              f"hand {h['loop_s_per_iter'] * 1e3:.2f} ms/iter, "
              f"ratio {e['loop_s_per_iter'] / h['loop_s_per_iter']:.3f}; CPU "
              f"{e['loop_cpu_s_per_iter'] * 1e3:.2f} vs {h['loop_cpu_s_per_iter'] * 1e3:.2f} ms/iter  "
              f"(whole run {e['whole_s']:.2f}s vs {h['whole_s']:.2f}s)", flush=True)

    e0, h0 = runs["engine"][0], runs["hand"][0]
    same_init = math.isclose(e0["init_sum"], h0["init_sum"], rel_tol=0, abs_tol=1e-9)
    lr_diff = max(abs(a - b) for a, b in zip(e0["lrs"], h0["lrs"]))
    loop_ratio = [e["loop_s_per_iter"] / h["loop_s_per_iter"]
                  for e, h in zip(runs["engine"], runs["hand"])]
    whole_ratio = [e["whole_s"] / h["whole_s"] for e, h in zip(runs["engine"], runs["hand"])]
    summary = {
        "command": " ".join(["python", "benchmarks/loop_overhead.py"]
                            + list(argv if argv is not None else sys.argv[1:])),
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": e0["torch_threads"], "python": platform.python_version(),
                    "platform": platform.platform(), "processor": _cpu_name()},
        "iters": args.iters, "warmup": args.warmup, "repeats": args.repeats,
        "num_workers": args.num_workers,
        "same_initial_weights": same_init, "max_lr_difference": lr_diff,
        "engine_ms_per_iter": [1e3 * x["loop_s_per_iter"] for x in runs["engine"]],
        "hand_ms_per_iter": [1e3 * x["loop_s_per_iter"] for x in runs["hand"]],
        "loop_ratio": loop_ratio,
        "engine_cpu_ms_per_iter": [1e3 * x["loop_cpu_s_per_iter"] for x in runs["engine"]],
        "hand_cpu_ms_per_iter": [1e3 * x["loop_cpu_s_per_iter"] for x in runs["hand"]],
        "engine_main_cpu_ms_per_iter": [1e3 * x["loop_main_cpu_s_per_iter"] for x in runs["engine"]],
        "hand_main_cpu_ms_per_iter": [1e3 * x["loop_main_cpu_s_per_iter"] for x in runs["hand"]],
        "cpu_ratio": [e["loop_cpu_s_per_iter"] / h["loop_cpu_s_per_iter"]
                      for e, h in zip(runs["engine"], runs["hand"])],
        "engine_whole_s": [x["whole_s"] for x in runs["engine"]],
        "hand_whole_s": [x["whole_s"] for x in runs["hand"]],
        "whole_ratio": whole_ratio,
        "engine_accuracy": [x["accuracy"] for x in runs["engine"]],
        "hand_accuracy": [x["accuracy"] for x in runs["hand"]],
    }
    m = summary["machine"]
    print(f"\n{m['processor']}, {m['cpus']} CPUs, torch {m['torch']} "
          f"({m['torch_threads']} threads), python {m['python']}")
    print(f"{args.iters} iterations (first {args.warmup} not timed), num_workers "
          f"{args.num_workers}, {args.repeats} runs each, alternating")
    print(f"same initial weights: {same_init}; max LR difference: {lr_diff:.2e}")
    print(f"{'':24}{'min':>9}{'median':>9}{'max':>9}   (wall ms/iter; CPU = main process + workers)")
    for label, key, fmt in [("engine ms/iter", "engine_ms_per_iter", "{:9.2f}"),
                            ("hand ms/iter", "hand_ms_per_iter", "{:9.2f}"),
                            ("ratio engine/hand", "loop_ratio", "{:9.3f}"),
                            ("engine CPU ms/iter", "engine_cpu_ms_per_iter", "{:9.2f}"),
                            ("hand CPU ms/iter", "hand_cpu_ms_per_iter", "{:9.2f}"),
                            ("CPU ratio", "cpu_ratio", "{:9.3f}"),
                            ("  engine main-proc CPU", "engine_main_cpu_ms_per_iter", "{:9.2f}"),
                            ("  hand main-proc CPU", "hand_main_cpu_ms_per_iter", "{:9.2f}"),
                            ("engine whole run s", "engine_whole_s", "{:9.2f}"),
                            ("hand whole run s", "hand_whole_s", "{:9.2f}"),
                            ("whole-run ratio", "whole_ratio", "{:9.3f}")]:
        print(f"{label:24}" + "".join(fmt.format(v) for v in spread(summary[key])))
    print(f"final val accuracy: engine {statistics.median(summary['engine_accuracy']):.3f}, "
          f"hand {statistics.median(summary['hand_accuracy']):.3f} (medians)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
