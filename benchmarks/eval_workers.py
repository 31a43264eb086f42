"""Time one evaluation of the digits example with 1 and 2 CPU processes, with the
validation loader's workers restarted at every evaluation (before) and kept (after).

"before" is the engine as it was until issue 15.1: ``persistent_workers=False`` and the
workers' start method left to multiprocessing, which inside a ``--num-gpus N`` process is
``spawn`` (inherited from the launcher), so every evaluation started its workers again,
each re-importing torch and the project. "after" is the engine now: persistent workers
started with ``fork`` (engine/data/loader.py, doc/dataset.md#worker-processes).

Each setting is one training run (``train.py``'s path, ``BaseScheduler``) of a few steps
with ``solver.eval_period 1``: the time of the first evaluation (worker start-up included
in both modes) and the median of the later ones is read from log.txt's ``evaluation
took`` lines. All settings run in one invocation::

    python benchmarks/eval_workers.py --evals 6 --num-workers 2
"""
import argparse
import functools
import multiprocessing
import os
import re
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import codes  # noqa: E402,F401  (registers the digits example)
from engine.data.build import build_val_loader  # noqa: E402
from engine.schedule.scheduler import BaseScheduler  # noqa: E402
from engine.trainer import trainer as trainer_module  # noqa: E402
from engine.trainer.build import BUILD_TRAINER_REGISTRY  # noqa: E402
from engine.trainer.trainer import BaseTrainer  # noqa: E402


@BUILD_TRAINER_REGISTRY.register()
class RestartingEvalTrainer(BaseTrainer):
    """The engine before issue 15.1: validation workers restarted at every evaluation."""

    def evaluate(self, *args, **kwargs):
        saved = trainer_module.build_val_loader
        trainer_module.build_val_loader = functools.partial(  # what this process's default is
            build_val_loader, persistent_workers=False, start_method=multiprocessing.get_start_method())
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            trainer_module.build_val_loader = saved


def run(mode: str, processes: int, evals: int, workers: int, out: str):
    trainer = "RestartingEvalTrainer" if mode == "before" else "BaseTrainer"
    argv = ["--config-file", os.path.join(ROOT, "codes", "configs", "digits.py"), "--num-gpus", str(processes),
            "output_dir", out, "output_log_name", f"{mode}{processes}", "trainer.name", trainer,
            "trainer.device", "cpu", "trainer.progress_bar", "False", "dataloader.num_workers", str(workers),
            "solver.max_iter", str(evals), "solver.eval_period", "1", "solver.checkpoint_period", "1000",
            "solver.train_per_batch", "16", "solver.generator.lr_scheduler.params.warmup_iter", "1"]
    try:
        BaseScheduler().schedule(argv)
    except SystemExit as e:
        if e.code:
            raise
    with open(os.path.join(out, f"{mode}{processes}", "log.txt"), encoding="utf-8") as f:
        times = [float(t) for t in re.findall(r"evaluation took ([0-9.]+)s", f.read())]
    return times[0], statistics.median(times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=6, help="evaluations per run (>= 2)")
    parser.add_argument("--num-workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for processes in (1, 2):
            for mode in ("before", "after"):
                first, later = run(mode, processes, args.evals, args.num_workers, out)
                rows.append((processes, mode, first, later))
                print(f"processes={processes} {mode}: first {first:.2f}s, later (median) {later:.2f}s",
                      flush=True)
    print("\n| processes | validation workers | first evaluation (s) | later evaluations, median (s) |")
    print("|---|---|---|---|")
    for processes, mode, first, later in rows:
        how = "restarted each time (before)" if mode == "before" else "persistent, fork (after)"
        print(f"| {processes} | {how} | {first:.2f} | {later:.2f} |")


if __name__ == "__main__":
    main()
