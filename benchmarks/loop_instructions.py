"""The engine's loop against the hand-written one in counted work, not time: callgrind.

Why: ``loop_interleaved.py`` times the two loops in alternating turns, and on this shared
2-core machine its median ratio moves by +-0.5 % between runs minutes apart (1.014 and
1.019 in one hour), about what is left to resolve. Valgrind's callgrind counts what the
process executes, the same on a busy machine as on a quiet one: instructions, and with
``--cache-sim`` the first-level and last-level cache misses and mispredicted branches of
a simulated cache, which give callgrind's usual cycle estimate (KCachegrind's "CEst"):

    cycles ~ instructions + 10 x (first-level misses + mispredicted branches)
             + 100 x last-level misses

Neither counts the kernel's work (page faults, system calls) or the real machine's
caches, so this complements the timed comparison; it does not replace it.

The child process is ``loop_interleaved.py``'s set-up with ``--num-workers 0`` and the
keyed hand loop (the same bytes loaded on both sides): the engine trains, a hook runs
``--chunk`` hand iterations after every ``--chunk`` engine ones, and each turn's end calls
``os.getppid()``, a C function nothing else in the loop calls, where callgrind dumps its
counts (``--dump-before=getppid``). Dump 1 is the set-up; then engine and hand turns
alternate. The first ``--warmup-chunks`` pairs are left out.

Needs valgrind (``apt-get install valgrind``); ~80x slower than a plain run, so a few
turns of a few iterations. The defaults take ~9 minutes here, ~15 with ``--cache-sim``,
most of it importing torch and building both loops under valgrind.

Run from the repository root (numbers in doc/benchmarks.md)::

    python benchmarks/loop_instructions.py --chunk 5 --pairs 6 --cache-sim
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: callgrind's cycle estimate (KCachegrind): the weight of each counted event
CYCLE_WEIGHTS = {"Ir": 1, "I1mr": 10, "D1mr": 10, "D1mw": 10, "ILmr": 100, "DLmr": 100, "DLmw": 100,
                 "Bcm": 10, "Bim": 10}


def child(chunk: int, pairs: int, config: str) -> None:
    """The two loops taking turns; ``os.getppid()`` at each turn's end; exits after ``pairs``."""
    sys.path[:0] = [ROOT, HERE]
    import torch

    import codes  # noqa: F401  (registers the digits components)
    from engine.trainer.hooks import HookBase
    from engine.trainer.hooks.base import Priority
    from hand_loop import train_beside

    torch.set_num_threads(1)
    max_iter = 2 * chunk * pairs + 100  # past the warm-up; the run stops after the last pair

    class TakeTurns(HookBase):
        priority = Priority.LOWEST + 1

        def __init__(self, hand):
            self.hand, self.started = hand, False

        def before_step(self):
            if not self.started:
                self.started = True
                os.getppid()  # the set-up ends: the first engine turn starts

        def after_step(self):
            if (self.trainer.iter + 1) % chunk:
                return
            os.getppid()  # the engine's turn ends
            self.hand.steps(chunk)
            os.getppid()  # the hand loop's turn ends
            if (self.trainer.iter + 1) // chunk >= pairs:
                sys.stdout.flush()
                os._exit(0)  # nothing after the last turn is counted

    train_beside(config, max_iter, 0, TakeTurns)
    raise SystemExit("the run ended before its last turn")


def read_dump(path: str) -> dict:
    """``{event: count}`` of one callgrind dump, from its ``events:`` and ``summary:`` lines."""
    events = totals = None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("summary:", "totals:")):
                totals = [int(v) for v in line.split()[1:]]
    if events is None or totals is None:
        raise ValueError(f"{path}: no events/summary lines; is it a callgrind output file?")
    return dict(zip(events, totals + [0] * (len(events) - len(totals))))


def cycles(counts: dict) -> int:
    """callgrind's cycle estimate of the counts (only the events counted contribute)."""
    return sum(weight * counts.get(event, 0) for event, weight in CYCLE_WEIGHTS.items())


def turns(folder: str, stem: str) -> list:
    """The dumps after the set-up, in order: engine, hand, engine, hand, ..."""
    dumps = glob.glob(os.path.join(folder, stem + ".*"))
    numbered = sorted((int(m.group(1)), p) for p in dumps for m in [re.search(r"\.(\d+)$", p)] if m)
    return [read_dump(p) for n, p in numbered if n >= 2]


def compare(dumps: list, chunk: int, warmup: int) -> dict:
    """Per pair (after ``warmup``) the engine/hand ratios of instructions and cycles, and
    the per-iteration means of every event."""
    if len(dumps) < 2 * (warmup + 1):
        raise ValueError(f"{len(dumps)} turns counted, fewer than the {2 * (warmup + 1)} needed: "
                         f"the child stopped early (its output is above)")
    pairs = [(dumps[i], dumps[i + 1]) for i in range(2 * warmup, len(dumps) - 1, 2)]
    simulated = "I1mr" in pairs[0][0]  # counted with --cache-sim
    result = {"pairs": len(pairs), "per_iteration": {}}
    for side, k in (("engine", 0), ("hand", 1)):
        events = sorted(pairs[0][k])
        result["per_iteration"][side] = {e: statistics.mean(p[k][e] for p in pairs) / chunk for e in events}
        if simulated:
            result["per_iteration"][side]["cycles"] = statistics.mean(cycles(p[k]) for p in pairs) / chunk
    result["instruction_ratios"] = [e["Ir"] / h["Ir"] for e, h in pairs]
    result["cycle_ratios"] = [cycles(e) / cycles(h) for e, h in pairs] if simulated else []
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=5, help="iterations per turn")
    parser.add_argument("--pairs", type=int, default=6, help="engine + hand turn pairs")
    parser.add_argument("--warmup-chunks", type=int, default=1, help="pairs left out at the start")
    parser.add_argument("--cache-sim", action="store_true",
                        help="simulate the caches and branch predictor too (~2x slower): cycle estimate")
    parser.add_argument("--config", default=os.path.join(ROOT, "codes", "configs", "digits.py"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("chunk", "pairs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not 0 <= args.warmup_chunks < args.pairs:
        parser.error(f"--warmup-chunks must be between 0 and --pairs - 1 ({args.pairs - 1}), got {args.warmup_chunks}")
    if args.child:
        child(args.chunk, args.pairs, args.config)
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        parser.error("valgrind is not installed (it counts the instructions): apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="loop_instructions_") as folder:
        command = [valgrind, "--tool=callgrind", "--dump-before=getppid",
                   f"--callgrind-out-file={os.path.join(folder, 'cg.out')}"]
        command += ["--cache-sim=yes", "--branch-sim=yes"] if args.cache_sim else []
        command += [sys.executable, os.path.abspath(__file__), "--child", "--chunk", str(args.chunk),
                    "--pairs", str(args.pairs), "--config", args.config]
        print("running:", " ".join(command), flush=True)
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            print(done.stdout[-3000:])
            print(f"error: the counted run exited with {done.returncode}", file=sys.stderr)
            return 1
        result = compare(turns(folder, "cg.out"), args.chunk, args.warmup_chunks)
    report(result, args.chunk)
    return 0


def report(result: dict, chunk: int) -> None:
    engine, hand = result["per_iteration"]["engine"], result["per_iteration"]["hand"]
    print(f"{result['pairs']} pairs of {chunk}-iteration turns; per iteration:")
    print(f"{'event':>8} {'engine':>14} {'hand':>14} {'engine/hand':>12}")
    for event in sorted(engine, key=lambda e: (e != "Ir", e != "cycles", e)):
        if hand.get(event):
            print(f"{event:>8} {engine[event]:14,.0f} {hand[event]:14,.0f} {engine[event] / hand[event]:12.4f}")
    for name in ("instruction", "cycle"):
        ratios = result[f"{name}_ratios"]
        if not ratios:
            continue
        print(f"{name} ratio per pair: median {statistics.median(ratios):.4f} "
              f"(min {min(ratios):.4f}, max {max(ratios):.4f})")


if __name__ == "__main__":
    sys.exit(main())
