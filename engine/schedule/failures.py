"""How a failed worker process is reported by the process that spawned it.

torch.multiprocessing tells the parent only which process failed first and, for an
exception, its traceback. That first failure is often a consequence (a peer's
connection closed) rather than the cause, and bad input deserves the usual one-line
``error: ...`` with exit status 2, not a traceback. So each worker, as it fails, writes
a small record into a folder the parent made: its rank, the kind of failure, the
message or traceback, the time. The parent then reports, once:

* bad input (an :class:`EngineError` in any worker): the lowest rank's message, raised
  again as an EngineError in the parent -> ``error: <message>``, exit 2;
* a worker stopped by SIGTERM/SIGINT after saving (exit 143/130): that status;
* a worker that ended with a status of its own and no record (``os._exit(7)``,
  ``sys.exit(7)`` in the project's code, a library ending the process): its rank and
  status, ``error: worker process of rank R exited with status 7 ...``, exit 1; the
  others' errors (a peer's closed connection) are its consequence;
* a worker that died first, by a signal, without a record (out of memory, a crash in
  native code): ``error: worker process of rank R was killed by SIGKILL ...``, exit 1;
* otherwise the earliest exception's traceback and ``error: worker process of rank R
  failed ...``, exit 1; with no record at all, what torch.multiprocessing saw
  (``process 1 terminated with exit code 3``).
"""
import json
import os
import sys
import time
from typing import Dict, List, Optional

from ..trainer.preemption import EXIT_CODES
from ..utils.errors import EngineError

__all__ = ["record_failure", "read_failures", "report_worker_failure"]

STOPPED_BY_SIGNAL = tuple(EXIT_CODES.values())  # SIGINT, SIGTERM: saved and stopped


def record_failure(folder: str, rank: int, kind: str, text: str) -> None:
    """Write this worker's failure record (atomically; never raises)."""
    if not folder:
        return
    try:
        path = os.path.join(folder, f"rank{rank}.json")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"rank": rank, "kind": kind, "text": text, "time": time.time()}, f)
        os.replace(tmp, path)
    except OSError:
        pass


def read_failures(folder: str) -> List[dict]:
    records = []
    if folder and os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.endswith(".json"):
                try:
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        records.append(json.load(f))
                except (OSError, ValueError):
                    pass
    return records


def report_worker_failure(error, folder: str, first_rank: int, exit_codes: Optional[Dict[int, int]] = None) -> None:
    """Turn the ``torch.multiprocessing.ProcessException`` of a failed spawn into one
    report; always raises (EngineError or SystemExit). ``exit_codes``: every worker's
    exit status by global rank (negative: killed by that signal)."""
    records = read_failures(folder)
    bad_input = sorted((r for r in records if r["kind"] == "engine"), key=lambda r: r["rank"])
    if bad_input:
        raise EngineError(bad_input[0]["text"])
    exit_code = getattr(error, "exit_code", None)
    crashes = sorted((r for r in records if r["kind"] == "exception"), key=lambda r: r["time"])
    if not crashes and exit_code in STOPPED_BY_SIGNAL:
        raise SystemExit(exit_code)
    recorded = {r["rank"] for r in records}
    silent = sorted((rank, code) for rank, code in (exit_codes or {}).items()
                    if code is not None and code > 0 and code not in STOPPED_BY_SIGNAL and rank not in recorded)
    if silent:
        rank, code = silent[0]
        log = "log.txt" if rank == 0 else f"log.rank{rank}.txt"
        print(f"error: worker process of rank {rank} exited with status {code} without reporting an error "
              f"(os._exit or sys.exit in the project's code, or a library that ended the process?); its {log} "
              f"ends where it stopped; the other workers were stopped", file=sys.stderr, flush=True)
        raise SystemExit(1)
    rank = first_rank + getattr(error, "error_index", 0)
    killed = getattr(error, "signal_name", None)
    if killed and not any(r["rank"] == rank for r in records):
        # died first without a word (out of memory, a crash in native code): that is the cause
        print(f"error: worker process of rank {rank} was killed by {killed}"
              + (" (out of memory?)" if killed == "SIGKILL" else "")
              + "; the other workers were stopped", file=sys.stderr, flush=True)
    elif crashes:
        first = crashes[0]
        print(first["text"].rstrip(), file=sys.stderr)
        print(f"error: worker process of rank {first['rank']} failed with the exception above; "
              f"the other workers were stopped", file=sys.stderr, flush=True)
    else:
        print(f"error: worker process of rank {rank} failed: {str(error).strip()}; "
              f"the other workers were stopped", file=sys.stderr, flush=True)
    raise SystemExit(1)
