"""benchmarks/loop_interleaved.py runs end to end (a few short turns), and its keyed hand
loop loads the very samples the engine loads: with ``--hand-augment keyed`` the two
loops do equal data work, so the ratio is the loop's own cost (doc/benchmarks.md)."""
import json
import os
import sys

import pytest

import codes  # noqa: F401  (registers DigitsDataset)
from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import hand_loop  # noqa: E402
import loop_interleaved  # noqa: E402
from engine.config import load_cfg  # noqa: E402
from engine.data.build import build_dataset  # noqa: E402
from engine.data.seeding import SeededSamples  # noqa: E402

CONFIG = os.path.join(ROOT, "codes", "configs", "digits.py")


def test_the_keyed_hand_loop_loads_the_engines_bytes():
    cfg = load_cfg(CONFIG, [])
    dataset = build_dataset(cfg.DATALOADER.TRAIN_DATA_SET, "dataloader.train_data_set")
    engine, hand = SeededSamples(dataset, seed=7), hand_loop.KeyedSamples(dataset, seed=7)
    for key in [(0, 0), (0, 11), (3, 11), (5, 200)]:
        a, b = engine[key], hand[key]
        assert a["target_data"] == b["target_data"]
        assert a["input_data"].numpy().tobytes() == b["input_data"].numpy().tobytes(), key
    assert dataset.sample_rng is None


def test_the_keyed_sampler_yields_each_index_once_per_epoch_with_its_epoch():
    loop = hand_loop.HandLoop(CONFIG, max_iter=2, num_workers=0, augment="keyed")
    loop.keyed.epoch = 4
    keys = list(loop.keyed)
    assert {e for e, _ in keys} == {4}
    assert sorted(i for _, i in keys) == list(range(len(loop.keyed)))
    with pytest.raises(ValueError, match="augment must be one of"):
        hand_loop.HandLoop(CONFIG, max_iter=2, num_workers=0, augment="seeded")


@pytest.mark.parametrize("augment", ["unseeded", "keyed"])
def test_a_short_interleaved_run_reports_both_loops(tmp_path, capsys, augment):
    out = tmp_path / "loop.json"
    loop_interleaved.main(["--chunk", "20", "--pairs", "3", "--warmup-chunks", "1", "--runs", "1",
                           "--clock", "cpu", "--hand-augment", augment, "--json", str(out)])
    summary = json.loads(out.read_text())
    assert summary["hand_augment"] == augment and summary["pairs"] == 2
    assert len(summary["ratio"]) == 2 and all(r > 0 for r in summary["ratio"])
    assert f"hand augmentation {augment}" in capsys.readouterr().out


def test_the_call_count_benchmark_counts_both_loops(capsys):
    # benchmarks/loop_calls.py: the Python work of each loop per iteration, exactly
    import loop_calls

    counts = loop_calls.count(CONFIG, iters=6, warmup=50)
    for side in ("engine", "hand"):
        calls, c_calls = counts[side]
        # a digits iteration runs thousands of Python calls (the hand loop ~5800)
        assert sum(calls.values()) / 6 > 1000 and sum(c_calls.values()) / 6 > 1000, side
    engine, hand = counts["engine"][0], counts["hand"][0]
    assert any("hand_loop.py" in path for path, _, _ in hand)
    assert not any("hand_loop.py" in path for path, _, _ in engine)  # counted apart
    assert any(path.endswith(os.path.join("engine", "trainer", "trainer.py")) for path, _, _ in engine)


def test_the_call_count_benchmark_counts_bytecodes_per_function():
    import loop_calls

    counts = loop_calls.count(CONFIG, iters=3, warmup=50, bytecodes=True)
    for side in ("engine", "hand"):
        bytecodes, c_calls = counts[side]
        assert sum(bytecodes.values()) / 3 > 10_000 and not c_calls, side  # a digits iteration: ~150,000
    engine, hand = counts["engine"][0], counts["hand"][0]
    trainer_py = os.path.join("engine", "trainer", "trainer.py")
    assert any(path.endswith(trainer_py) for path, _, _ in engine)
    assert not any(path.endswith(trainer_py) for path, _, _ in hand)  # counted apart
    assert any("hand_loop.py" in path for path, _, _ in hand)
