"""The file names of a run's ``checkpoints/`` folder, defined here and nowhere else.

The checkpointer resumes from and prunes them, the trainer and its hooks write them, the
session edges and the Predictor look for them: each imports the name from this module,
so a name changed here changes everywhere (doc/trainer.md#the-run-directory lists them).
"""
import re

__all__ = ["LAST_CHECKPOINT", "FINAL", "BEST", "LAST_EVALUATED", "periodic_name", "top_k_name",
           "PERIODIC", "NUMBERED", "CHECKPOINT"]

LAST_CHECKPOINT = "last_checkpoint"  # a text file: the name of the newest complete checkpoint
FINAL = "model_final.pth"            # after the last iteration, or a hook's request_stop
BEST = "model_best.pth"              # the best evaluation of solver.best_metric (BestCheckpoint)
LAST_EVALUATED = "model_last.pth"    # ModelCheckpoint(save_last=True): the latest evaluated state


def periodic_name(iteration: int) -> str:
    """``model_<iteration, 7 digits>.pth``: solver.checkpoint_period's, and a stop signal's."""
    return f"model_{iteration:07d}.pth"


def top_k_name(iteration: int) -> str:
    """``model_top_<iteration, 7 digits>.pth``: one of ModelCheckpoint's ``save_top_k`` best."""
    return f"model_top_{iteration:07d}.pth"


PERIODIC = re.compile(r"^model_(\d{7})\.pth$")
NUMBERED = re.compile(r"^model_(?:top_)?(\d{7,})\.pth$")  # the iteration in the name: periodic, top-k
CHECKPOINT = re.compile(r"^model_[\w.-]*\.pth$")  # periodic, final, best, top-k, last: a run's work
