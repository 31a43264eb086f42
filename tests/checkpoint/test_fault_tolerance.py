"""Invariants 1 and 5 under real faults (doc/resume.md).

A run is SIGKILLed at random moments (between steps, right after an optimizer step,
half-way through writing a checkpoint), stopped by SIGTERM / SIGINT, or finds its newest
checkpoints corrupt; restarted each time with the same ``--resume`` command line, it must
end with every tensor of its final checkpoint (weights, optimizer, LR schedule, EMA,
RNG states) and of ``model_best.pth`` bitwise equal to the run never interrupted.

The kill points come from ``random.Random(SEED)``; SEED is new on every run and printed
in every failure message (set ENGINE_FAULT_SEED to replay one).
"""
import os
import random
import shutil
import signal

import pytest

from fault_tolerance_helpers import (MAX_ITER, context, digits_argv, load, run_child, run_here,
                                     tensor_differences)

SEED = int(os.environ.get("ENGINE_FAULT_SEED", random.SystemRandom().randrange(1_000_000)))
PERIOD = 4  # solver.checkpoint_period in digits_argv


def checkpoints(out):
    return out / "digits" / "checkpoints"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run (num_workers 0), trained in this process."""
    from multiprocessing import forkserver

    context()
    forkserver.ensure_running()  # start the children's forkserver while this run trains
    out = tmp_path_factory.mktemp("reference")
    assert run_here(digits_argv(out)) == 0
    return {"dir": out, "final": load(checkpoints(out) / "model_final.pth"),
            "best": load(checkpoints(out) / "model_best.pth")}


def assert_same_end_state(out, reference, story):
    for name in ("final", "best"):
        got = load(checkpoints(out) / f"model_{name}.pth")
        want = reference[name]
        diffs = [d for key in ("model", "rng", "iteration", "epoch", "data", "trainer")
                 for d in tensor_differences(got[key], want[key], f"{name}.{key}")]
        assert not diffs, f"{story}: model_{name}.pth differs from the uninterrupted run at {diffs[:6]}"


def newest(out):
    return (checkpoints(out) / "last_checkpoint").read_text().strip()


def temporaries(out):
    return sorted(n for n in os.listdir(checkpoints(out)) if n.endswith(".tmp"))


@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_at_random_moments_then_resume_ends_bitwise_equal(tmp_path, reference, workers):
    rng = random.Random(SEED * 10 + workers)
    first, how = rng.randrange(1, 14), rng.choice(["kill_before", "kill_after"])
    survivor = first // PERIOD * PERIOD                 # newest checkpoint before the kill
    mid = rng.randrange(survivor + PERIOD, MAX_ITER, PERIOD)  # killed half-way through writing it
    story = f"seed {SEED}, num_workers {workers}: {how} step {first}, then kill while writing checkpoint {mid}"
    argv = digits_argv(tmp_path, workers=workers)

    # 1: killed between steps, or just after an optimizer step (before its checkpoint)
    assert run_child(argv, {how: first}, tmp_path / "child1.log") == -signal.SIGKILL, story
    if survivor:
        assert newest(tmp_path) == f"model_{survivor:07d}.pth", story

    # 2: the same command resumes, and is killed with half a checkpoint on disk
    assert run_child(argv, {"kill_mid_write": mid}, tmp_path / "child2.log") == -signal.SIGKILL, story
    previous = mid - PERIOD  # 0: the kill hit the run's very first save, nothing to resume from
    if previous:
        assert newest(tmp_path) == f"model_{previous:07d}.pth", story
    else:
        assert not (checkpoints(tmp_path) / "last_checkpoint").exists(), story
    torn = [n for n in temporaries(tmp_path) if n.startswith(f".model_{mid:07d}.pth.")]
    assert torn and not (checkpoints(tmp_path) / f"model_{mid:07d}.pth").exists(), story

    # 3: the same command again, to the end
    assert run_here(argv) == 0, story
    log = (tmp_path / "digits" / "log.txt").read_text()
    if previous:
        assert f"resumed from {checkpoints(tmp_path) / f'model_{previous:07d}.pth'} at iteration {previous}" in log, story
    else:
        assert "--resume: no checkpoint in" in log and "starting from scratch" in log, story
    assert "temporary file(s) left by an interrupted save" in log and not temporaries(tmp_path), story
    assert_same_end_state(tmp_path, reference, story)


def test_sigterm_to_the_process_group_saves_exits_143_and_resume_is_bitwise_equal(tmp_path, reference):
    """Slurm/torchrun style: SIGTERM reaches the trainer and its 2 DataLoader workers."""
    step = 9  # the signal arrives before step 9 fetches its data, from the workers
    argv = digits_argv(tmp_path, workers=2)
    code = run_child(argv, {"signal_before": (step, signal.SIGTERM), "group": True}, tmp_path / "child.log")
    child_log = (tmp_path / "child.log").read_text()
    assert code == 143, child_log[-3000:]
    done = step + 1  # the current step is finished, then saved: model_0000010.pth
    assert newest(tmp_path) == f"model_{done:07d}.pth"
    assert load(checkpoints(tmp_path) / f"model_{done:07d}.pth")["iteration"] == done
    log = (tmp_path / "digits" / "log.txt").read_text()
    assert f"stopped by SIGTERM after iteration {done}" in log and "--resume" in log
    records = (tmp_path / "digits" / "metrics.jsonl").read_text().splitlines()
    assert '"iter": 10' in records[-1]  # writers flushed and closed after the last step

    assert run_here(argv) == 0
    assert_same_end_state(tmp_path, reference, "SIGTERM at step 9, then --resume")


def test_sigint_saves_and_exits_130_and_a_second_one_while_saving_loses_nothing(tmp_path, reference, capsys):
    argv = digits_argv(tmp_path)
    before = signal.getsignal(signal.SIGINT)
    assert run_here(argv, {"signal_before": (5, signal.SIGINT)}) == 130
    assert signal.getsignal(signal.SIGINT) is before  # handlers only around the loop
    assert newest(tmp_path) == "model_0000006.pth"

    # Ctrl-C before step 9, and again while torch.save writes model_0000010.pth (issue 25
    # item 13: inside its zip writer the interrupt became "unexpected pos", exit 1)
    assert run_here(argv, {"signal_before": (9, signal.SIGINT), "signal_mid_write": (10, signal.SIGINT)}) == 130
    err = capsys.readouterr().err
    assert "interrupted: stopped at once, without saving" in err and "Traceback" not in err, err
    assert newest(tmp_path) == "model_0000008.pth"
    assert not (checkpoints(tmp_path) / "model_0000010.pth").exists() and not temporaries(tmp_path)
    for name in os.listdir(checkpoints(tmp_path)):
        if name.endswith(".pth"):
            load(checkpoints(tmp_path) / name)  # every file under a real name is complete

    assert run_here(argv) == 0
    assert_same_end_state(tmp_path, reference, "SIGINT at step 5; SIGINT twice at step 9")


def test_corrupt_newest_checkpoints_are_reported_by_path_and_an_older_one_is_used(tmp_path, reference):
    shutil.copytree(reference["dir"] / "digits", tmp_path / "digits")
    ckpt = checkpoints(tmp_path)
    final, last_periodic = ckpt / "model_final.pth", ckpt / f"model_{MAX_ITER - PERIOD:07d}.pth"
    data = final.read_bytes()
    final.write_bytes(data[: len(data) // 2])          # torn
    last_periodic.write_bytes(b"\0" * 1000)            # garbage
    (ckpt / "last_checkpoint").write_text("model_final.pth\n")

    assert run_here(digits_argv(tmp_path)) == 0
    log = (tmp_path / "digits" / "log.txt").read_text()
    assert f"checkpoint {final} does not load" in log
    assert f"checkpoint {last_periodic} does not load" in log
    older = ckpt / f"model_{MAX_ITER - 2 * PERIOD:07d}.pth"
    assert f"resumed from {older}, the newest checkpoint that loads; not used: {final}" in log
    assert_same_end_state(tmp_path, reference, "newest two checkpoints corrupt")


def test_resume_when_no_checkpoint_loads_is_an_error_and_touches_nothing(tmp_path, capsys):
    ckpt = checkpoints(tmp_path)
    ckpt.mkdir(parents=True)
    (ckpt / "model_0000004.pth").write_bytes(b"not a checkpoint")
    (ckpt / "last_checkpoint").write_text("model_0000004.pth\n")
    assert run_here(digits_argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "none of the 1 checkpoint(s)" in err and str(ckpt / "model_0000004.pth") in err
    assert (ckpt / "model_0000004.pth").read_bytes() == b"not a checkpoint"


def test_resume_with_another_global_batch_warns_which_samples_move(tmp_path, reference):
    shutil.copytree(reference["dir"] / "digits", tmp_path / "digits")
    final = load(checkpoints(tmp_path) / "model_final.pth")
    assert final["epoch"] == MAX_ITER * 32 // 1438 and final["data"]["samples_seen"] == MAX_ITER * 32
    argv = digits_argv(tmp_path, max_iter=MAX_ITER + 1)
    assert run_here(argv + ["solver.train_per_batch", "16"]) == 0
    log = (tmp_path / "digits" / "log.txt").read_text()
    assert ("resume: the checkpoint was written with a global batch of 32 (solver.train_per_batch 32 x 1 "
            "process(es)); this run uses 16") in log
    assert f"continues at iteration {MAX_ITER} x 16 = sample {MAX_ITER * 16} instead of sample {MAX_ITER * 32}" in log
    assert "resume: the config differs from the checkpoint's: " in log and "solver.train_per_batch: 32 -> 16" in log

    # the same global batch split into accumulation steps keeps the sample stream: no warning
    assert run_here(digits_argv(tmp_path, max_iter=MAX_ITER + 2) + [
        "solver.train_per_batch", "16", "solver.gradient_accumulation_batch", "2"]) == 0
    session = (tmp_path / "digits" / "log.txt").read_text().split("command line:")[-1]
    assert "resumed from" in session and "written with a global batch" not in session
    assert "accumulation x processes changed from 1 x 1 to 2 x 1 with the same global batch" in session
