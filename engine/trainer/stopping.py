"""``trainer.request_stop``: why the run stops early, and how every process stops after
the same step.

In one process a request ends the run after the current step. With several, every rank
must leave the loop after the same step: a rank that left alone would run the final
evaluation and save while the others wait in the next step's gradient all-reduce, until
``trainer.dist_timeout`` (30 min by default) ends in a traceback blaming the wrong rank.
Hooks are asked to decide the same on every rank, but a decision made from a rank's own
numbers (its loss, its clock) may not be. So with several processes a request is only
noted on the rank that made it (:attr:`BaseTrainer.pending_stop`), and travels with the
next step's verdict, beside the stop signals and the non-finite flag: in DDP's gradient
all-reduce or the guard's one collective (nonfinite.py, ddp_agreement.py), so it costs
no collective of its own. After that step every process stops (:func:`agreed_stop`):
the ranks that asked with their own reason, the others naming them. A request made on
every rank at once (EarlyStopping, from evaluation results every rank shares) is agreed
the same way: with several processes the run stops one step later than in one.
"""
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = ["StopRequest", "pending_stop", "agreed_stop", "asked_flags"]

logger = logging.getLogger("engine.trainer")


@dataclass
class StopRequest:
    """Why the run stops early (``trainer.request_stop``)."""

    reason: str
    signum: int = 0  # a stop signal: save, exit 143/130; 0: finish cleanly, exit 0


def pending_stop(reason: str, done: int) -> StopRequest:
    """A request made on this process when several train: noted (and logged here, with
    its reason, which the other ranks' logs point to) until the next step's verdict."""
    logger.info("stop requested after iteration %d: %s; every process stops after the next step", done, reason)
    return StopRequest(str(reason))


def asked_flags(asked: bool, rank: int, world_size: int) -> list:
    """This rank's part of the agreement: a 0/1 flag per rank, set at its own index when
    it asked to stop. Summed (or maxed) over processes, it says which ranks asked."""
    return [float(asked and r == rank) for r in range(world_size)]


def agreed_stop(pending: Optional[StopRequest], asked_by: Sequence[int], world_size: int) -> Optional[StopRequest]:
    """The request every process acts on once the step's verdict says ``asked_by`` ranks
    asked (None when none did): this rank's own when it asked, else one naming them."""
    if not asked_by:
        return None
    if pending is not None:
        return pending
    if len(asked_by) == world_size:
        who = "every process"
    else:
        who = "rank " + ", ".join(str(r) for r in asked_by)
    logs = ", ".join("log.txt" if r == 0 else f"log.rank{r}.txt" for r in asked_by[:3])
    return StopRequest(f"request_stop on {who} (the reason is in {logs})")
