"""One order of strings in sets for every run: the training command re-runs itself once
with ``PYTHONHASHSEED=0`` when the user left string hashing random.

Python salts ``hash(str)`` per interpreter unless ``PYTHONHASHSEED`` is set, so a ``set``
of file names iterates in another order in every process. Seed projects build their
sample lists that way (SDWSeg's ``parse_file_path`` returns ``list(set(...))``); with a
random salt two runs of one config trained on other orders (their losses differed from
the first step), ``--resume`` after a kill continued on another order than the one the
checkpoint was saved on, and the processes torchrun or srun start listed the files in
different orders, so their shards of one sampler overlapped and missed samples. Seeding
cannot mend it: the salt is read when the interpreter starts. So the training command,
started as a script (``python train.py ...``, ``python -m package.train ...``, the
docker ENTRYPOINT, each process of torchrun/srun), replaces its own process, before it
reads the config, by the same command with ``PYTHONHASHSEED=0`` (``os.execv``: same pid,
same terminal, same arguments; the imports run a second time, a few seconds). The
processes ``--num-gpus N`` spawns inherit the variable.

``PYTHONHASHSEED`` set to anything (``random`` included) is the user's choice, kept.
Nothing happens when the scheduler is given its arguments in code
(``schedule(argv)``), in an interactive session, on Windows, or when the process's own
command line cannot be told (``python -c``, an embedded interpreter).
"""
import os
import sys
from typing import Optional, Sequence

__all__ = ["FIXED_SEED", "rerun_command", "run_with_fixed_string_hashing"]

FIXED_SEED = "0"


def rerun_command(argv: Optional[Sequence[str]]) -> Optional[list]:
    """The command that restarts this process with the same arguments, or None when it
    must not be restarted (module docstring)."""
    if argv is not None or "PYTHONHASHSEED" in os.environ or not sys.flags.hash_randomization:
        return None
    if os.name == "nt" or sys.flags.interactive or not sys.executable:
        return None
    command = list(getattr(sys, "orig_argv", None) or [])
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not command or not main_file or not sys.argv or sys.argv[0] in ("", "-c"):
        return None
    # the interpreter's own command line ends with the script's: python [options] script args
    if len(command) < len(sys.argv) or command[len(command) - len(sys.argv) + 1:] != sys.argv[1:]:
        return None
    if os.path.abspath(sys.argv[0]) != os.path.abspath(main_file):
        return None
    return [sys.executable] + command[1:]


def run_with_fixed_string_hashing(argv: Optional[Sequence[str]] = None) -> None:
    """Re-run this process with ``PYTHONHASHSEED=0`` when :func:`rerun_command` says so;
    returns only when it does not (or the exec failed: the run then goes on as it is)."""
    command = rerun_command(argv)
    if command is None:
        return
    os.environ["PYTHONHASHSEED"] = FIXED_SEED
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, command)
    except OSError as error:  # the run goes on with random hashing, and says so
        del os.environ["PYTHONHASHSEED"]
        print(f"warning: could not re-run with PYTHONHASHSEED={FIXED_SEED} ({error}); "
              f"set it yourself for a reproducible order of sets", file=sys.stderr, flush=True)
