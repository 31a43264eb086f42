"""Session edges of issue 16.10: a fresh start does not append to a failed earlier
session's metrics.jsonl / TensorBoard events, and the resume report leaves out where
the run lives."""
import json

from engine.trainer.resume_check import config_changes
from fault_tolerance_helpers import digits_argv, run_here


def test_a_fresh_start_moves_a_failed_sessions_records_aside(tmp_path):
    run_dir = tmp_path / "digits"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text(json.dumps({"type": "train", "iter": 3, "loss": 9.0}) + "\n")
    (run_dir / "events.out.tfevents.1.host.1.0").write_bytes(b"old")
    argv = [a for a in digits_argv(tmp_path, max_iter=8) if a != "--resume"]  # a fresh start
    assert run_here(argv) == 0
    records = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    assert records and all(r.get("loss") != 9.0 for r in records)
    moved = run_dir / "previous" / "1"
    assert json.loads((moved / "metrics.jsonl").read_text())["loss"] == 9.0
    assert (moved / "events.out.tfevents.1.host.1.0").read_bytes() == b"old"
    assert "an earlier session's metrics.jsonl, events.out.tfevents.1.host.1.0 moved to" in \
        (run_dir / "log.txt").read_text()


def test_resume_report_leaves_out_the_runs_location_and_paradigm():
    old = "output_dir: /a\noutput_log_name: x\ntrainer:\n  paradigm:\n    global_rank: 0\nseed: 1\n"
    new = "output_dir: /b\noutput_log_name: y\ntrainer:\n  paradigm:\n    global_rank: 1\nseed: 2\n"
    assert config_changes(old, new) == [("seed", 1, 2)]
