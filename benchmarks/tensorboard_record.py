"""One period's record into TensorBoard: the engine's writer against ``add_scalar`` per scalar.

Why: every ``trainer.log_period`` steps the training loop stops to write its record, and a
record to TensorBoard was one ``SummaryWriter.add_scalar`` per scalar (an event each,
~50 us) and a flush that waits for TensorBoard's writer thread to take every event. The
engine's ``TensorboardWriter`` now writes a record as one event holding all its scalars.
This times both, interleaved (the order reversed every other round), each into its own
event file in a temporary folder, on records of ``--scalars`` scalars, and checks that
both files read back with the same scalars.

Run from the repository root (numbers in doc/benchmarks.md)::

    python benchmarks/tensorboard_record.py --rounds 20 --records 40
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, "benchmarks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_stats import bootstrap_median  # noqa: E402
from engine.trainer.hooks.writers import TensorboardWriter, plotted  # noqa: E402


def record_of(step: int, scalars: int) -> dict:
    """A 'train' record as MetricsLogger builds it: bookkeeping keys and ``scalars`` numbers."""
    values = {f"loss_{i}": 1.0 / (step + i + 1) for i in range(scalars)}
    return {"type": "train", "iter": step, "epoch": 0, **values, "eta_seconds": 10.0, "max_mem_mb": 100.0}


class PerScalar:
    """What the engine did before: ``add_scalar`` for each scalar, then ``flush``."""

    def __init__(self, folder: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=folder)

    def write(self, record: dict, step: int) -> None:
        for key, value in plotted(record):
            self.writer.add_scalar(f"train/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def engine_writer(folder: str):
    writer = TensorboardWriter(folder)
    writer.open()
    return writer


def read_back(folder: str) -> dict:
    """``{tag: [(step, value), ...]}`` of the event file(s) in ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(folder, size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def measure(rounds: int, records: int, scalars: int) -> dict:
    per_record = {"engine": [], "per_scalar": []}
    with tempfile.TemporaryDirectory(prefix="tb_bench_") as root:
        folders = {name: os.path.join(root, name) for name in per_record}
        writers = {"engine": engine_writer(folders["engine"]), "per_scalar": PerScalar(folders["per_scalar"])}
        step = 0
        for r in range(rounds):
            order = list(writers) if r % 2 == 0 else list(reversed(writers))
            batch = [record_of(step + i, scalars) for i in range(records)]
            for name in order:
                start = time.perf_counter()
                for i, record in enumerate(batch):
                    writers[name].write(record, step + i)
                per_record[name].append((time.perf_counter() - start) / records)
            step += records
        for writer in writers.values():
            writer.close()
        same = read_back(folders["engine"]) == read_back(folders["per_scalar"])
    ratios = [p / e for e, p in zip(per_record["engine"], per_record["per_scalar"])]
    low, high = bootstrap_median(ratios)
    return {"engine_us": statistics.median(per_record["engine"]) * 1e6,
            "per_scalar_us": statistics.median(per_record["per_scalar"]) * 1e6,
            "speedup": statistics.median(ratios), "interval": (low, high), "same_scalars": same}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds")
    parser.add_argument("--records", type=int, default=40, help="records each writer writes per round")
    parser.add_argument("--scalars", type=int, default=12, help="scalars per record")
    args = parser.parse_args(argv)
    for name in ("rounds", "records", "scalars"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    result = measure(args.rounds, args.records, args.scalars)
    low, high = result["interval"]
    print(f"{args.scalars} scalars a record, {args.rounds} rounds of {args.records} records; median microseconds a record")
    print(f"engine (one event a record)  {result['engine_us']:8.0f}")
    print(f"add_scalar per scalar        {result['per_scalar_us']:8.0f}")
    print(f"speed-up {result['speedup']:.2f}x (95 % interval {low:.2f}-{high:.2f}); "
          f"same scalars read back: {result['same_scalars']}")
    return 0 if result["same_scalars"] else 1


if __name__ == "__main__":
    sys.exit(main())
