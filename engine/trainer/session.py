"""The edges of a session, where it meets an earlier one in the same run directory:

* a stop signal received before the first step (the handlers are installed from the
  first line of ``train()``): exit 143 / 130 at once, nothing trained, nothing saved;
* a resumed run with no step left: "training already complete", or "already stopped"
  (a hook's request_stop) with how to train on; a run complete at a checkpoint other
  than ``model_final.pth`` (the resume fell back to ``model_best.pth`` or a top-k file
  because ``model_final.pth`` was missing or damaged) gets its ``model_final.pth`` again;
* a run a hook stopped, resumed with another ``solver.max_iter`` or ``trainer.hooks``:
  the stop is lifted (a warning says so) and training continues;
* ``--resume solver.max_iter N`` extending a finished run: a note that
  ``model_final.pth`` will be overwritten;
* ``--eval-only`` in a run directory: the evaluation record is appended to
  metrics.jsonl (and TensorBoard) unless the same record is already there (same
  iteration, split and values); either way the log says which;
* a fresh start (iteration 0, no checkpoint) into a directory where an earlier session
  left metrics.jsonl or TensorBoard events (a run that failed before its first
  checkpoint): those files are moved to ``previous/<n>/`` so the new run's records and
  curves are its own, and the log says where they went. A resumed session appends, as
  its records continue the run's.
"""
import glob
import json
import logging
import math
import os
from typing import Any, Dict, List

from ..checkpoint.names import FINAL as FINAL_NAME
from .preemption import TrainingInterrupted

__all__ = ["stop_before_training", "nothing_to_train", "stop_lifted", "note_extending", "eval_record",
           "record_eval_only", "set_aside_earlier_outputs"]

logger = logging.getLogger("engine.trainer")


def stop_before_training(trainer) -> None:
    """Agree (one collective) on a stop signal received before the first step; end the
    run with its exit status, without a checkpoint (nothing was trained)."""
    signum = trainer.stop_signals.requested()
    if not signum:
        return
    interrupted = TrainingInterrupted(signum, trainer.start_iter, trainer.checkpointer.last_name())
    logger.warning("%s received before the first step of this session: exiting without training (iteration "
                   "%d, nothing saved; exit status %d)", interrupted.signal_name, trainer.start_iter,
                   interrupted.code)
    raise interrupted


# what decides whether a run stops: a session that changes one of them lifts a hook's stop
STOP_SETTINGS = ("solver.max_iter", "trainer.hooks")


def nothing_to_train(trainer) -> bool:
    """Whether a resumed run has no step left to train (logged: complete, or stopped by a
    hook and how to train on). Complete at a checkpoint other than model_final.pth:
    model_final.pth is written from it (the state it would have held)."""
    start, end, stop = trainer.start_iter, trainer.max_iter, trainer.stop_request
    if stop is not None:
        logger.info("training already stopped: %s (iteration %d of solver.max_iter %d); to train on, resume "
                    "with the hook that stopped it removed from trainer.hooks, or with another solver.max_iter "
                    "(above %d): the stop is then lifted", stop.reason, start, end, start)
        return True
    if start < end:
        return False
    logger.info("training already complete (iteration %d of solver.max_iter %d)", start, end)
    if start == end and trainer.resumed_from and os.path.basename(trainer.resumed_from) != FINAL_NAME:
        logger.warning("%s was missing or did not load: written again from %s (iteration %d)", FINAL_NAME,
                       trainer.resumed_from, start)
        trainer.finish(start)
    return True


def stop_lifted(trainer, reason: str, changes) -> bool:
    """Whether the stop a hook asked for in the checkpoint's session is lifted: this
    session changed solver.max_iter or trainer.hooks (``changes``: resume_check's
    (key, old, new) list) and has steps left."""
    changed = sorted({key for key, _, _ in changes if key in STOP_SETTINGS})
    if not changed or trainer.start_iter >= trainer.max_iter:
        return False
    logger.warning("the run was stopped at iteration %d (%s); %s changed since: the stop is lifted, training "
                   "continues to iteration %d", trainer.start_iter, reason, " and ".join(changed), trainer.max_iter)
    return True


def note_extending(trainer) -> None:
    """A finished run resumed with a larger solver.max_iter continues from model_final.pth,
    which is written again at the new end."""
    if trainer.resumed_from and os.path.basename(trainer.resumed_from) == FINAL_NAME and trainer.rank == 0:
        logger.warning("extending a finished run from iteration %d to %d (solver.max_iter): %s (iteration %d) "
                       "will be overwritten at the end; copy it now to keep it", trainer.start_iter,
                       trainer.max_iter, trainer.resumed_from, trainer.start_iter)


def eval_record(step: int, split: str, results: Dict[str, float]) -> Dict[str, Any]:
    """``{'type': 'eval', 'iter', <results>}``; ``'split': 'test'`` for the test set."""
    return {"type": "eval", "iter": step, **({"split": split} if split != "val" else {}), **results}


def record_eval_only(trainer, record: Dict[str, Any]) -> bool:
    """Write --eval-only's record to every writer, unless metrics.jsonl already holds
    the same one; True when written. Main process only (the others write nothing)."""
    if trainer.rank != 0:
        return False
    path = os.path.join(trainer.run_dir, "metrics.jsonl")
    same_iter = [r for r in _records(path) if r.get("type") == "eval" and r.get("iter") == record["iter"]
                 and r.get("split", "val") == record.get("split", "val")]
    if any(_same(r, record) for r in same_iter):
        logger.info("--eval-only: %s already holds this evaluation (iteration %d, same results): not appended "
                    "again; no new TensorBoard events file", path, record["iter"])
        return False
    trainer.writers.write_once(record)
    logger.info("--eval-only: results appended to %s at iteration %d%s, TensorBoard eval/* written to a new "
                "events file in %s", path, record["iter"],
                " (it holds another evaluation at that iteration)" if same_iter else "", trainer.run_dir)
    return True


def _records(path: str) -> List[Dict[str, Any]]:
    if not os.path.isfile(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a torn last line of a killed run
    return records


def _same(old: Dict[str, Any], new: Dict[str, Any]) -> bool:
    if old.keys() != new.keys():
        return False
    return all(old[k] == new[k] or (isinstance(old[k], float) and isinstance(new[k], (int, float))
                                    and math.isclose(old[k], new[k], rel_tol=1e-6, abs_tol=1e-12))
               for k in new)


def set_aside_earlier_outputs(run_dir: str) -> str:
    """Move an earlier session's metrics.jsonl and event files to ``previous/<n>/``
    (``n`` = 1, 2, ...); returns that folder, or '' when there was nothing to move."""
    earlier = [p for p in [os.path.join(run_dir, "metrics.jsonl")] if os.path.isfile(p)]
    earlier += sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")))
    if not earlier:
        return ""
    n = 1
    while os.path.exists(os.path.join(run_dir, "previous", str(n))):
        n += 1
    target = os.path.join(run_dir, "previous", str(n))
    os.makedirs(target)
    for path in earlier:
        os.replace(path, os.path.join(target, os.path.basename(path)))
    logger.warning("a fresh start into %s: an earlier session's %s moved to %s, so this run's records are "
                   "its own", run_dir, ", ".join(os.path.basename(p) for p in earlier), target)
    return target
