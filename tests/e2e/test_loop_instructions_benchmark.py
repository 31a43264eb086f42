"""benchmarks/loop_instructions.py: the loops' counted work under callgrind (the numbers
are in doc/benchmarks.md). Reading callgrind's dumps and the ratios is checked on dumps
written here; the counted run itself is slow (~4 minutes under valgrind)."""
import os
import shutil
import sys

import pytest

from conftest import ROOT, refused_each

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import loop_instructions  # noqa: E402

EVENTS = "Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim"


def dump(folder, n, counts, events=EVENTS):
    (folder / f"cg.out.{n}").write_text(
        f"# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\nevents: {events}\n"
        f"fn=(1) main\n0 {' '.join(map(str, counts))}\nsummary: {' '.join(map(str, counts))}\n")


def counts(ir, misses=0):
    return [ir, 0, 0, misses, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def test_turns_read_in_order_after_the_set_up_and_ratios_per_pair(tmp_path):
    dump(tmp_path, 1, counts(10**9))                  # the set-up: left out
    for n, (ir, miss) in enumerate([(1100, 10), (1000, 0), (1030, 0), (1000, 0), (1020, 1), (1000, 1)], start=2):
        dump(tmp_path, n, counts(ir, miss))
    dump(tmp_path, 10, counts(1000))                  # numbered 10: after 9, not after 1
    dump(tmp_path, 11, counts(1000))
    dumps = loop_instructions.turns(str(tmp_path), "cg.out")
    assert [d["Ir"] for d in dumps] == [1100, 1000, 1030, 1000, 1020, 1000, 1000, 1000]
    result = loop_instructions.compare(dumps, chunk=10, warmup=1)   # the first pair left out
    assert result["pairs"] == 3
    assert result["instruction_ratios"] == pytest.approx([1.03, 1.02, 1.0])
    assert result["cycle_ratios"] == pytest.approx([1.03, (1020 + 10) / (1000 + 10), 1.0])
    assert result["per_iteration"]["engine"]["Ir"] == pytest.approx((1030 + 1020 + 1000) / 3 / 10)


def test_cycles_weigh_misses_as_callgrind_does():
    assert loop_instructions.cycles({"Ir": 100, "I1mr": 2, "DLmr": 1, "Bcm": 3, "Dr": 50}) == 100 + 20 + 100 + 30


def test_instructions_only_give_no_cycle_ratio(tmp_path):
    for n, ir in enumerate([5, 101, 100, 100], start=1):  # the last turn has no pair: left out
        dump(tmp_path, n, [ir], events="Ir")
    result = loop_instructions.compare(loop_instructions.turns(str(tmp_path), "cg.out"), chunk=1, warmup=0)
    assert result["instruction_ratios"] == pytest.approx([1.01]) and result["cycle_ratios"] == []
    assert "cycles" not in result["per_iteration"]["engine"]


def test_too_few_turns_or_a_file_that_is_no_dump_say_so(tmp_path):
    dump(tmp_path, 1, counts(5))
    dump(tmp_path, 2, counts(100))
    with pytest.raises(ValueError, match="1 turns counted, fewer than the 2 needed"):
        loop_instructions.compare(loop_instructions.turns(str(tmp_path), "cg.out"), chunk=1, warmup=0)
    (tmp_path / "cg.out.3").write_text("not a dump\n")
    with pytest.raises(ValueError, match="cg.out.3: no events/summary lines"):
        loop_instructions.turns(str(tmp_path), "cg.out")


def test_bad_arguments_and_a_missing_valgrind_are_one_error(capsys, monkeypatch):
    refused_each(loop_instructions.main, (["--chunk", "0"], ["--pairs", "2", "--warmup-chunks", "2"]))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    refused_each(loop_instructions.main, (["--pairs", "2"],))
    err = capsys.readouterr().err
    assert "--warmup-chunks must be between 0 and --pairs - 1 (1), got 2" in err
    assert "valgrind is not installed" in err


@pytest.mark.slow  # ~4 minutes: importing torch and building both loops under valgrind
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_a_counted_run_reports_both_loops(capsys):
    assert loop_instructions.main(["--chunk", "1", "--pairs", "2"]) == 0
    out = capsys.readouterr().out
    assert "instruction ratio per pair" in out and "1 pairs of 1-iteration turns" in out
