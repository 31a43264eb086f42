"""The Writers hook owns the writers: it opens every WriterHook once per session, hands
it each record (an evaluation in before_loop and after_loop too) and closes it after
every other hook; an evaluation's results reach the hooks once, from the trainer."""
import json
import os
from types import SimpleNamespace

from engine.trainer.build import BUILD_TRAINER_REGISTRY
from engine.trainer.hooks import PeriodicEval, Priority
from engine.trainer.trainer import BaseTrainer

import hook_project  # noqa: F401  (registers the project and ListWriter)
from hook_project import schedule_here, write_config


@BUILD_TRAINER_REGISTRY.register()
class EvaluatingAtTheEdges(BaseTrainer):
    """Evaluates in the seed's before_loop and after_loop, as doc/trainer.md allows."""

    def before_loop(self):
        self.evaluate(self.start_iter)

    def after_loop(self):
        self.evaluate(self.iter, "val")


def test_writers_get_every_record_between_one_open_and_one_close(tmp_path):
    trainer = schedule_here(["--config-file", write_config(tmp_path), "output_dir", str(tmp_path),
                             "trainer.name", "EvaluatingAtTheEdges", "solver.max_iter", "8",
                             "trainer.hooks", "[{'name': 'ListWriter'}]"])
    assert trainer.hooks[-1] is trainer.writers and trainer.writers.priority == Priority.LAST
    seen = next(h for h in trainer.hooks if type(h).__name__ == "ListWriter").seen
    assert seen[0] == ("open",) and seen[-1] == ("close",) and seen.count(("open",)) == 1
    records = seen[1:-1]
    assert [(r["type"], r["iter"]) for r in records if r["type"] == "eval"] == [
        ("eval", 0), ("eval", 4), ("eval", 8), ("eval", 8)]  # before_loop, periodic, final, after_loop
    assert records[0]["type"] == "eval"  # before_loop's evaluation waited for the writers to open
    with open(os.path.join(tmp_path, "line", "metrics.jsonl")) as f:
        assert [json.loads(line) for line in f] == records  # metrics.jsonl got the same, in order


def test_periodic_eval_returns_its_results_for_the_trainer_to_hand_on():
    """It calls no other hook itself: the trainer hands the results to every after_eval."""
    hook = PeriodicEval(2)
    hook.trainer = SimpleNamespace(iter=1, max_iter=10, stop_request=None, evaluate=lambda done: {"score": done})
    assert hook.after_step() == {"score": 2}
    hook.trainer.iter = 2
    assert hook.after_step() is None



def test_metrics_jsonl_is_strict_json_with_non_finite_values_as_null(tmp_path):
    # a NaN or inf logged value (a metric of an empty class, a diverging auxiliary loss)
    # would be a bare NaN token, which strict readers refuse for the whole line
    import numpy as np
    import torch

    from engine.trainer.hooks import JsonWriter

    writer = JsonWriter(str(tmp_path / "metrics.jsonl"))
    writer.open()
    writer.write({"type": "eval", "iter": 3, "miou": float("nan"), "ap": np.float32("inf"),
                  "per_class": torch.tensor([0.5, float("nan")]), "acc": np.float64(0.25)}, 3)
    writer.close()
    line = (tmp_path / "metrics.jsonl").read_text()
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line) == {"type": "eval", "iter": 3, "miou": None, "ap": None,
                                "per_class": [0.5, None], "acc": 0.25}


def test_tensorboard_gets_a_record_as_one_event_with_its_scalars(tmp_path):
    """One event per record (an event per scalar cost ~50 us each, doc/benchmarks.md):
    every plottable number of the record is in it, the bookkeeping keys are not."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    from engine.trainer.hooks import TensorboardWriter

    writer = TensorboardWriter(str(tmp_path))
    writer.open()
    writer.write({"type": "train", "iter": 5, "epoch": 0, "loss": 0.5, "lr": 0.01, "flag": True,
                  "eta_seconds": 3.0, "max_mem_mb": 10.0, "note": "text"}, 5)
    writer.write({"type": "eval", "iter": 5, "accuracy": 0.75}, 5)
    writer.write({"type": "other", "value": 1.0}, 5)  # neither train nor eval: not plotted
    writer.close()
    (name,) = [n for n in os.listdir(tmp_path) if n.startswith("events.out.tfevents")]
    events = [e for e in LegacyEventFileLoader(str(tmp_path / name)).Load() if e.HasField("summary")]
    assert [(e.step, [(v.tag, v.simple_value) for v in e.summary.value]) for e in events] == [
        (5, [("train/loss", 0.5), ("train/lr", 0.009999999776482582)]), (5, [("eval/accuracy", 0.75)])]
