"""model_best.pth: solver.best_metric / solver.best_mode, continued across resumes, never pruned."""
import pytest
import torch

import codes  # noqa: F401
from engine.checkpoint.checkpointer import Checkpointer
from engine.evaluation import EVALUATOR_REGISTRY, DatasetEvaluator

from fault_tolerance_helpers import DIGITS_PY, load, run_here, tensor_differences


@EVALUATOR_REGISTRY.register()
class ScriptedScore(DatasetEvaluator):
    """Returns ``values[n]`` as ``score`` at its n-th evaluation (a script of results)."""

    def __init__(self, values=(), topk=None):  # topk: merged in from the digits config
        self.values, self.calls = list(values), 0

    def process(self, model, batch):
        pass

    def evaluate(self):
        self.calls += 1
        return {"score": self.values[self.calls - 1], "other": 0.0}


def argv(out, values, *extra, max_iter=6):
    """Evaluations (and checkpoints) at iterations 2, 4, 6, ... on a 36-image validation set."""
    return ["--config-file", DIGITS_PY, "--resume", "output_dir", str(out), "dataloader.num_workers", "0",
            "trainer.progress_bar", "False", "solver.max_iter", str(max_iter), "solver.eval_period", "2",
            "solver.checkpoint_period", "2", "solver.max_keep", "0", "dataloader.val_data_set.val_fraction", "0.02",
            "solver.generator.lr_scheduler.params.warmup_iter", "1", "solver.best_metric", "score",
            "trainer.evaluator", f"{{'name': 'ScriptedScore', 'values': {list(values)}}}", *extra]


def best(out):
    return load(out / "digits" / "checkpoints" / "model_best.pth")


def same_weights(a, b):
    return not tensor_differences(a["model"], b["model"])


@pytest.mark.parametrize("mode, values, best_iter", [("max", [0.5, 0.9, 0.7], 4), ("min", [0.5, 0.6, 0.2], 6)])
def test_best_checkpoint_is_the_state_of_the_best_evaluation(tmp_path, mode, values, best_iter):
    assert run_here(argv(tmp_path, values, "solver.best_mode", mode)) == 0
    got = best(tmp_path)
    assert got["iteration"] == best_iter
    assert got["trainer"]["best"] == {"metric": "score", "mode": mode, "value": values[best_iter // 2 - 1],
                                      "iteration": best_iter}
    same_iteration = load(tmp_path / "digits" / "checkpoints" / (
        "model_final.pth" if best_iter == 6 else f"model_{best_iter:07d}.pth"))
    assert same_weights(got, same_iteration)
    assert (tmp_path / "digits" / "checkpoints" / "last_checkpoint").read_text().strip() == "model_final.pth"


def test_a_resumed_run_does_not_replace_a_better_best_with_a_worse_one(tmp_path):
    assert run_here(argv(tmp_path, [0.5, 0.9, 0.7])) == 0            # best 0.9 at 4
    first = best(tmp_path)
    assert run_here(argv(tmp_path, [0.8, 0.85], max_iter=10)) == 0   # evaluations at 8, 10: worse
    assert best(tmp_path)["iteration"] == 4 and same_weights(best(tmp_path), first)
    assert run_here(argv(tmp_path, [0.95], max_iter=12)) == 0         # better: replaced
    assert best(tmp_path)["iteration"] == 12 and best(tmp_path)["trainer"]["best"]["value"] == 0.95


def test_a_run_resumed_from_an_older_checkpoint_continues_that_checkpoints_best(tmp_path):
    """The hook's checkpointed state is the one source of the best: model_best.pth is not
    read back, so the resumed run goes on exactly as the run that wrote its checkpoint."""
    assert run_here(argv(tmp_path, [0.5, 0.9, 0.7])) == 0            # best 0.9 at 4
    ckpt = tmp_path / "digits" / "checkpoints"
    for name in ("model_final.pth", "model_0000004.pth"):
        (ckpt / name).unlink()   # as if the run had died right after iteration 2's checkpoint
    (ckpt / "last_checkpoint").write_text("model_0000002.pth\n")
    assert load(ckpt / "model_0000002.pth")["trainer"]["best"]["value"] == 0.5
    assert run_here(argv(tmp_path, [0.8, 0.85])) == 0                # 0.8 at 4 beats 0.5, 0.85 at 6 beats 0.8
    final = load(ckpt / "model_final.pth")
    assert final["trainer"]["best"] == {"metric": "score", "mode": "max", "value": 0.85, "iteration": 6}
    assert best(tmp_path)["iteration"] == 6 and same_weights(best(tmp_path), final)


def test_pruning_keeps_model_best_the_newest_and_the_one_last_checkpoint_names(tmp_path):
    assert run_here(argv(tmp_path, [0.9, 0.1, 0.1], "solver.max_keep", "1")) == 0
    names = sorted(p.name for p in (tmp_path / "digits" / "checkpoints").iterdir())
    assert names == ["last_checkpoint", "model_0000004.pth", "model_best.pth", "model_final.pth"]
    assert best(tmp_path)["iteration"] == 2

    # a newer periodic file that does not load (say, from before a fallback) must not
    # push the complete one that last_checkpoint names out
    folder = tmp_path / "pruning"
    checkpointer = Checkpointer(str(folder), max_keep=1)
    payload = {"model": {"w": torch.zeros(1)}, "iteration": 0}
    checkpointer.save("model_best.pth", payload, update_last=False)
    (folder / "model_0000008.pth").write_bytes(b"torn")
    checkpointer.save("model_0000006.pth", payload)
    assert sorted(p.name for p in folder.iterdir()) == [
        "last_checkpoint", "model_0000006.pth", "model_0000008.pth", "model_best.pth"]


def error(capsys):
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1, lines
    return lines[0]


def test_unknown_best_metric_names_what_the_evaluator_returns(tmp_path, capsys):
    code = run_here(["--config-file", DIGITS_PY, "output_dir", str(tmp_path), "dataloader.num_workers", "0",
                     "trainer.progress_bar", "False", "solver.max_iter", "2", "solver.best_metric", "acc",
                     "dataloader.val_data_set.val_fraction", "0.02",
                     "solver.generator.lr_scheduler.params.warmup_iter", "1"])
    assert code == 2
    line = error(capsys)
    assert "solver.best_metric 'acc' is not a result of the evaluator ClassificationEvaluator" in line
    assert "it returns: accuracy, top3_accuracy" in line
    assert not (tmp_path / "digits" / "checkpoints" / "model_final.pth").exists()


def test_bad_best_mode_is_refused(tmp_path, capsys):
    assert run_here(argv(tmp_path, [1], "solver.best_mode", "maximum")) == 2
    assert "solver.best_mode must be 'max' or 'min', got 'maximum'" in error(capsys)


def test_best_metric_without_a_validation_set_is_refused(tmp_path, capsys):
    assert run_here(argv(tmp_path, [1], "dataloader.val_data_set.name", "''")) == 2
    assert "solver.best_metric 'score' needs a validation dataset" in error(capsys)
