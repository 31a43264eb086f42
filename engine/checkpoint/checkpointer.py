"""Checkpoints of a run: ``checkpoints/model_<iter:07d>.pth`` + ``last_checkpoint``.

``last_checkpoint`` names the newest *complete* checkpoint and is rewritten only after
that checkpoint's rename, so it never points at a torn file. On resume a checkpoint that
does not load is reported with its path and the next older one is tried. Pruning keeps
the ``max_keep`` newest periodic checkpoints and never deletes the one
``last_checkpoint`` names, ``model_best.pth`` or ``model_final.pth``.
"""
import logging
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import torch

from .atomic import atomic_write, atomic_write_text

__all__ = ["Checkpointer", "periodic_name"]

logger = logging.getLogger(__name__)

_PERIODIC = re.compile(r"^model_(\d{7})\.pth$")
LAST = "last_checkpoint"


def periodic_name(iteration: int) -> str:
    return f"model_{iteration:07d}.pth"


class Checkpointer:
    def __init__(self, folder: str, max_keep: int = 20, enabled: bool = True):
        self.folder = folder
        self.max_keep = int(max_keep)
        self.enabled = enabled  # only the main process writes

    # ------------------------------------------------------------------ writing
    def save(self, name: str, payload: Dict[str, Any], *, update_last: bool = True) -> Optional[str]:
        if not self.enabled:
            return None
        path = os.path.join(self.folder, name)
        atomic_write(path, lambda f: torch.save(payload, f))
        if update_last:
            atomic_write_text(os.path.join(self.folder, LAST), name + "\n")
        self._prune()
        logger.info("saved checkpoint %s", path)
        return path

    def _prune(self) -> None:
        if self.max_keep <= 0:
            return
        keep_last = self._read_last()
        periodic = self.periodic_checkpoints()
        for path in periodic[: max(0, len(periodic) - self.max_keep)]:
            if os.path.basename(path) != keep_last:
                os.unlink(path)

    # ------------------------------------------------------------------ reading
    def periodic_checkpoints(self) -> List[str]:
        """Periodic checkpoint paths, oldest first."""
        if not os.path.isdir(self.folder):
            return []
        names = sorted(n for n in os.listdir(self.folder) if _PERIODIC.match(n))
        return [os.path.join(self.folder, n) for n in names]

    def _read_last(self) -> Optional[str]:
        path = os.path.join(self.folder, LAST)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None

    def has_checkpoint(self) -> bool:
        return bool(self.candidates())

    def candidates(self) -> List[str]:
        """Checkpoints to resume from, newest first: the one ``last_checkpoint`` names,
        then the periodic and final ones by iteration."""
        ordered: List[str] = []
        last = self._read_last()
        if last:
            ordered.append(os.path.join(self.folder, last))
        periodic = list(reversed(self.periodic_checkpoints()))
        final = os.path.join(self.folder, "model_final.pth")
        for path in ([final] if os.path.isfile(final) else []) + periodic:
            if path not in ordered:
                ordered.append(path)
        return ordered

    def load_latest(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        """The newest checkpoint that loads, as (path, payload); None if there is none."""
        for path in self.candidates():
            try:
                return path, load_checkpoint(path)
            except Exception as e:  # a torn or corrupt file: say so, fall back
                logger.warning("checkpoint %s does not load (%s: %s); trying an older one",
                               path, type(e).__name__, e)
        return None


def load_checkpoint(path: str) -> Dict[str, Any]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "model" not in payload or "iteration" not in payload:
        raise ValueError("not an engine checkpoint (no 'model'/'iteration' entries)")
    return payload
