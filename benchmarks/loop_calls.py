"""Python function calls per iteration: the engine's loop against the hand-written one.

Why: on a shared machine a few tens of microseconds per iteration are below what a
timing resolves, while the Python work each loop does per iteration is exact. This
counts, with ``sys.setprofile``, every Python and C function call of ``--iters``
iterations of each loop (same setup as ``loop_interleaved.py --num-workers 0
--hand-augment keyed``: one process, the engine trains and a hook runs the hand loop),
and lists the functions whose calls per iteration differ most between the two.
``--bytecodes`` counts instead, with ``sys.settrace``, the bytecodes each Python function
executes: the Python work itself, weighed by what each call does.

Run from the repository root::

    python benchmarks/loop_calls.py --iters 200
    python benchmarks/loop_calls.py --iters 20 --bytecodes
"""
import argparse
import collections
import os
import sys

from loop_overhead import DEFAULT_CONFIG  # importing it also puts the repository on sys.path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def counted(calls: collections.Counter, c_calls: collections.Counter):
    """A ``sys.setprofile`` function counting calls by (file, line, name) and C calls by name."""
    def profile(frame, event, arg):
        if event == "call":
            code = frame.f_code
            calls[(code.co_filename, code.co_firstlineno, code.co_name)] += 1
        elif event == "c_call":
            c_calls[getattr(arg, "__qualname__", str(arg))] += 1
    return profile


def traced(bytecodes: collections.Counter):
    """A ``sys.settrace`` function counting the bytecodes each Python function executes."""
    def trace(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            bytecodes[(code.co_filename, code.co_firstlineno, code.co_name)] += 1
        return trace
    return trace


def watching(counters, bytecodes: bool):
    """Start counting into ``counters`` (calls, C calls): calls, or executed bytecodes."""
    if bytecodes:
        sys.settrace(traced(counters[0]))
    else:
        sys.setprofile(counted(*counters))


def stop_watching() -> None:
    sys.setprofile(None)
    sys.settrace(None)


def count(config: str, iters: int, warmup: int, bytecodes: bool = False) -> dict:
    """Calls of ``iters`` engine iterations (after ``warmup``), then of ``iters`` hand ones;
    with ``bytecodes``, the bytecodes each Python function executed instead (no C calls)."""
    import torch

    import codes  # noqa: F401  (registers the digits components)
    from engine.trainer.hooks import HookBase
    from engine.trainer.hooks.base import Priority
    from hand_loop import train_beside

    torch.set_num_threads(1)
    counts = {side: (collections.Counter(), collections.Counter()) for side in ("engine", "hand")}

    class Count(HookBase):
        """After ``warmup`` engine steps: count the next ``iters``, then ``iters`` hand ones."""
        priority = Priority.LOWEST + 1

        def __init__(self, hand):
            self.hand = hand

        def after_step(self):
            done = self.trainer.iter + 1
            if done == warmup:
                self.hand.steps(warmup)
                watching(counts["engine"], bytecodes)
            elif done == warmup + iters:
                stop_watching()
                watching(counts["hand"], bytecodes)
                self.hand.steps(iters)
                stop_watching()

    total = warmup + iters + 5  # the last steps (final evaluation) are not counted
    train_beside(config, total, 0, Count)  # the hand loop's LR schedule ends at ``total`` too
    return counts


def short(key) -> str:
    path, line, name = key
    return f"{os.path.relpath(path, ROOT) if path.startswith(ROOT) else os.path.basename(path)}:{line}({name})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--iters", type=int, default=200, help="iterations counted per loop")
    parser.add_argument("--warmup", type=int, default=50, help="engine iterations before counting")
    parser.add_argument("--top", type=int, default=30, help="functions listed")
    parser.add_argument("--bytecodes", action="store_true",
                        help="count the bytecodes each Python function executes, not calls (slower)")
    args = parser.parse_args(argv)
    counts = count(args.config, args.iters, args.warmup, args.bytecodes)
    n = args.iters
    unit = "bytecodes" if args.bytecodes else "calls"
    for side, (calls, c_calls) in counts.items():
        print(f"{side:7} {sum(calls.values()) / n:8.1f} Python {unit} / iteration"
              + ("" if args.bytecodes else f", {sum(c_calls.values()) / n:8.1f} C calls / iteration"))
    for kind, name in ((0, short), (1, str))[:1 if args.bytecodes else 2]:  # Python functions, then C ones
        engine, hand = counts["engine"][kind], counts["hand"][kind]
        keys = sorted(set(engine) | set(hand), key=lambda k: -abs(engine[k] - hand[k]))
        print(f"{'engine - hand':>14}{'engine':>9}{'hand':>9}  {('Python', 'C')[kind]} function ({unit} / iteration)")
        for key in keys[:args.top]:
            if engine[key] == hand[key]:
                break
            print(f"{(engine[key] - hand[key]) / n:14.1f}{engine[key] / n:9.1f}{hand[key] / n:9.1f}  {name(key)}")


if __name__ == "__main__":
    main()
