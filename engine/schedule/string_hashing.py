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
started as a script (``python train.py ...``, ``python -m package.train ...``, a console
script such as ``engine-train``, the docker ENTRYPOINT, each process of torchrun/srun),
replaces its own process, before it reads the config, by the same command with
``PYTHONHASHSEED=0`` (``os.execv``: same pid, same terminal, same arguments; what the
process did before, its imports, runs again). The processes ``--num-gpus N`` spawns
inherit the variable.

``PYTHONHASHSEED`` set to anything (``random`` included) is the user's choice, kept.
Nothing is re-run, and hashing stays random, when the arguments come from code
(``schedule(argv)``), in an interactive session or a notebook, under ``python -c``, ``-E``
or ``-I`` (the variable would be ignored), under a wrapper that runs the script as its
own argument (``python -m cProfile train.py``, a debugger's launcher), in a frozen
application, on Windows, or on Python 3.9 (no ``sys.orig_argv`` to re-run from). log.txt
says which (:func:`describe`).
"""
import os
import sys
from typing import Optional, Sequence

__all__ = ["FIXED_SEED", "rerun_command", "run_with_fixed_string_hashing", "describe"]

FIXED_SEED = "0"
_tried = False  # an exec that failed is not tried again (train.py's early call, then schedule())


def rerun_command(argv: Optional[Sequence[str]], flags=None) -> Optional[list]:
    """The command that restarts this process with the same arguments, or None when it
    must not be restarted (module docstring). ``flags``: ``sys.flags``'s stand-in."""
    flags = sys.flags if flags is None else flags
    if argv is not None or "PYTHONHASHSEED" in os.environ or not flags.hash_randomization:
        return None
    if flags.ignore_environment or flags.interactive or os.name == "nt" or getattr(sys, "frozen", False):
        return None
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    command = list(getattr(sys, "orig_argv", None) or [])
    if not sys.executable or not command or not main_file or not sys.argv or sys.argv[0] in ("", "-c"):
        return None
    if os.path.abspath(sys.argv[0]) != os.path.abspath(main_file):
        return None  # sys.argv is not the running script's (changed by code, a wrapper's)
    # the interpreter's command line must end with the script and its arguments, as
    # "python [options] script args" or "python [options] -m module args"
    args = len(sys.argv) - 1
    if len(command) < args + 2 or command[len(command) - args:] != sys.argv[1:]:
        return None
    launched = command[:len(command) - args]
    spec = getattr(main, "__spec__", None)
    by_path = os.path.abspath(launched[-1]) == os.path.abspath(sys.argv[0])
    by_module = spec is not None and launched[-2:] == ["-m", spec.name.removesuffix(".__main__")]
    if not (by_path or by_module):
        return None
    return [sys.executable] + command[1:]


def run_with_fixed_string_hashing(argv: Optional[Sequence[str]] = None) -> None:
    """Re-run this process with ``PYTHONHASHSEED=0`` when :func:`rerun_command` says so;
    returns only when it does not (or the exec failed: the run then goes on as it is)."""
    global _tried
    command = None if _tried else rerun_command(argv)
    if command is None:
        return
    _tried = True
    os.environ["PYTHONHASHSEED"] = FIXED_SEED
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    try:
        os.execv(sys.executable, command)
    except OSError as error:  # the run goes on with random hashing, and says so
        del os.environ["PYTHONHASHSEED"]
        print(f"warning: could not re-run with PYTHONHASHSEED={FIXED_SEED} ({error}); "
              f"set it yourself for a reproducible order of sets", file=sys.stderr, flush=True)


def describe() -> str:
    """How this interpreter hashes strings, for the run's log: from the interpreter's own
    flags, not the variable (which ``-E`` ignores and an empty value leaves random)."""
    if sys.flags.hash_randomization:
        return "random (PYTHONHASHSEED unset, 'random' or ignored: sets of strings iterate in another order per run)"
    return f"fixed (PYTHONHASHSEED={os.environ.get('PYTHONHASHSEED', '?')})"
