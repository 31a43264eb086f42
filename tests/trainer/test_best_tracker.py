"""One rule for the best of a monitored result (engine/trainer/best.py), used by
model_best.pth, ModelCheckpoint's top k and EarlyStopping; and the checkpoint file
names, defined in engine/checkpoint/names.py only."""
import ast
import math
import os

import pytest

from engine.checkpoint import names
from engine.trainer.best import BestTracker
from engine.utils.errors import ConfigError, EngineError

from conftest import ROOT


def test_the_best_is_strictly_better_and_an_equal_value_keeps_the_earlier_iteration():
    best = BestTracker("acc", "max")
    assert best.update({"acc": 0.5}, 2) and best.update({"acc": 0.7}, 4)
    assert not best.update({"acc": 0.7}, 6) and not best.update({"acc": 0.6}, 8)
    assert (best.value, best.iteration) == (0.7, 4)


@pytest.mark.parametrize("mode, bad", [("max", math.inf), ("min", -math.inf), ("min", math.nan)])
def test_a_non_finite_result_never_enters(mode, bad):
    best = BestTracker("loss", mode, keep=-1)
    assert best.offer(bad, 2) is None and best.entries == []
    assert best.offer(1.0, 4) == [] and best.offer(bad, 6) is None and best.entries == [(1.0, 4)]


def test_top_k_ranks_and_says_which_entries_fell_out():
    top = BestTracker("loss", "min", keep=2)
    assert top.offer(3.0, 2) == [] and top.offer(2.0, 4) == []
    assert top.offer(2.5, 6) == [(3.0, 2)]  # among the two best: 3.0 falls out
    assert top.offer(9.0, 8) is None  # not among them: nothing changes
    assert top.offer(1.0, 6) == [] and top.entries == [(1.0, 6), (2.0, 4)]  # a re-evaluation replaces its own
    assert BestTracker("loss", "min", keep=0).offer(1.0, 2) is None


def test_min_delta_is_the_margin_an_improvement_needs():
    best = BestTracker("loss", "min", min_delta=0.1)
    assert best.offer(1.0, 2) == [] and best.offer(0.95, 4) is None and best.offer(0.85, 6) == [(1.0, 2)]


def test_errors_name_the_setting_and_what_the_evaluator_returns():
    with pytest.raises(ConfigError, match=r"EarlyStopping: mode must be 'max' or 'min', got 'up'"):
        BestTracker("loss", "up", where=("EarlyStopping: monitor", "EarlyStopping: mode"))
    with pytest.raises(EngineError, match=r"solver.best_metric 'acc' is not a result of the evaluator "
                                          r"Scores; it returns: loss, top1"):
        BestTracker("acc", "max").read({"top1": 1.0, "loss": 0.1}, "Scores")


def test_the_name_patterns_agree_with_the_names():
    assert names.PERIODIC.match(names.periodic_name(12)) and not names.PERIODIC.match(names.top_k_name(12))
    assert [int(names.NUMBERED.match(n).group(1)) for n in (names.periodic_name(12), names.top_k_name(8))] == [12, 8]
    for name in (names.FINAL, names.BEST, names.LAST_EVALUATED, names.periodic_name(1), names.top_k_name(1)):
        assert names.CHECKPOINT.match(name), name
    assert not names.CHECKPOINT.match(names.LAST_CHECKPOINT)


def test_checkpoint_file_names_are_spelled_only_in_names_py():
    """No other engine module spells a checkpoint file name as a value of its own (a
    docstring may mention one): each imports it from engine/checkpoint/names.py."""
    spelled = {names.LAST_CHECKPOINT, names.FINAL, names.BEST, names.LAST_EVALUATED}
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "engine")):
        for file in files:
            path = os.path.join(folder, file)
            if not file.endswith(".py") or path.endswith(os.path.join("checkpoint", "names.py")):
                continue
            tree = ast.parse(open(path, encoding="utf-8").read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and node.value in spelled:
                    found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} {node.value}")
                elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) \
                        and str(node.values[0].value).startswith(("model_", "model_top_")):
                    found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} f-string")
    assert found == []
