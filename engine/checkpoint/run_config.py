"""Where a session writes its config: ``config.yaml``, or beside it when a resume changed it.

The first session writes ``config.yaml``. A ``--resume`` whose resolved config differs
from the newest one on disk keeps the old file and writes ``config.<iteration:07d>.yaml``
(the iteration it resumed at) beside it, so every session's config stays readable;
an unchanged config writes nothing new.
"""
import os
import re
from typing import Optional

__all__ = ["config_path_for"]

_SESSION = re.compile(r"^config\.(\d{7})\.yaml$")


def newest_config(run_dir: str) -> Optional[str]:
    """config.<iter>.yaml with the largest iteration, else config.yaml, else None."""
    names = sorted(n for n in os.listdir(run_dir) if _SESSION.match(n)) if os.path.isdir(run_dir) else []
    if names:
        return os.path.join(run_dir, names[-1])
    first = os.path.join(run_dir, "config.yaml")
    return first if os.path.isfile(first) else None


def config_path_for(run_dir: str, text: str, resumed_at: Optional[int]) -> Optional[str]:
    """The file to write ``text`` to; None when the newest config on disk already holds it.
    ``resumed_at``: the iteration of the checkpoint this session resumed from, or None."""
    first = os.path.join(run_dir, "config.yaml")
    if not resumed_at:
        return first
    newest = newest_config(run_dir)
    if newest is None:
        return first
    try:
        with open(newest, encoding="utf-8") as f:
            if f.read() == text:
                return None
    except (OSError, UnicodeDecodeError):
        pass
    return os.path.join(run_dir, f"config.{int(resumed_at):07d}.yaml")
