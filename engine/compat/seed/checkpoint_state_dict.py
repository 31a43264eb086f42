"""The seed's ``CheckPointStateDict``: the file side of its checkpoint manager (write a
``{'model': ..., 'checkpointables': ...}`` file, tag it in ``last_checkpoint``, load the
newest on resume). Here every step is our :class:`Checkpointer`'s: atomic writes (a
killed save leaves the previous files as they were), ``last_checkpoint`` rewritten only
after the file is complete, CRC32 verification before loading, and on resume a newest
file that does not load is reported and the next older one used.

The seed names files after the network class (``ResNet_0000099.pth``), not ``model_``:
the checkpointer is told the prefix, so pruning and the fallback find them.
"""
import logging
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from engine.checkpoint.checkpointer import LAST, Checkpointer
from engine.checkpoint.io import load_file
from engine.utils.atomic import atomic_write_text
from engine.utils.errors import EngineError

__all__ = ["CheckPointStateDict"]

logger = logging.getLogger(__name__)


class _PrefixCheckpointer(Checkpointer):
    """Our checkpointer for ``<prefix>_<iter:07d>.pth`` and ``<prefix>_final.pth``."""

    def __init__(self, folder: str, prefix: str, max_keep: int, enabled: bool):
        super().__init__(folder, max_keep=max_keep, enabled=enabled)
        self.prefix = prefix
        self._periodic = re.compile(rf"^{re.escape(prefix)}_(\d{{7}})\.pth$")

    def periodic_checkpoints(self) -> List[str]:
        if not os.path.isdir(self.folder):
            return []
        return [os.path.join(self.folder, n) for n in sorted(os.listdir(self.folder))
                if self._periodic.match(n)]

    def candidates(self) -> List[str]:
        last = self._read_last()
        final = os.path.join(self.folder, f"{self.prefix}_final.pth")
        ordered = [os.path.join(self.folder, last)] if last else []
        ordered += [final] if os.path.isfile(final) else []
        ordered += list(reversed(self.periodic_checkpoints()))
        return list(dict.fromkeys(ordered))

    def load_latest(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        """Ours, for the seed's layout too: its files have no top-level ``iteration``."""
        self.load_failures = []
        for path in self.candidates():
            try:
                return path, _load(path)
            except Exception as e:  # a torn or corrupt file: say so, fall back
                self.load_failures.append((path, f"{type(e).__name__}: {e}"))
                logger.warning("checkpoint %s does not load (%s); trying an older one",
                               path, self.load_failures[-1][1])
        return None


def _load(path: str) -> Dict[str, Any]:
    payload = load_file(path, "checkpoint: ")  # verifies the file's checksums first
    if not isinstance(payload, dict) or "model" not in payload:
        raise EngineError(f"checkpoint: {path!r} is not a checkpoint of the seed's layout "
                          f"(no 'model' entry)")
    return payload


class CheckPointStateDict:
    def __init__(self, save_dir: str = "", save_to_disk: bool = True, *,
                 file_prefix: str = "model", max_keep: Optional[int] = None):
        """``file_prefix`` and ``max_keep`` (None or 0: keep all) are ours: the seed's
        manager pruned on its own."""
        self.logger = logger
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.checkpointer = _PrefixCheckpointer(save_dir, file_prefix, max_keep or 0,
                                                bool(save_dir) and bool(save_to_disk))

    def save(self, name: str, state_dict: Dict[str, Any], **checkpointables: Any) -> None:
        if not self.checkpointer.enabled:
            return
        data: Dict[str, Any] = {"model": state_dict}
        if checkpointables:
            data["checkpointables"] = checkpointables
            if "iteration" in checkpointables:  # what our tools read without unpacking
                data["iteration"] = checkpointables["iteration"]
        self.checkpointer.save(f"{name}.pth", data)

    def load(self, path: str) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
        """(model state, checkpointables or None) of ``path``, verified against its checksums."""
        if not path:
            self.logger.info("No checkpoint found. Initializing model from scratch")
            return None, None
        self.logger.info("[Checkpointer] Loading from %s ...", path)
        payload = _load(path)
        return payload["model"], payload.get("checkpointables")

    def has_checkpoint(self) -> bool:
        return bool(self.checkpointer.candidates())

    def get_checkpoint_file(self) -> str:
        """The newest complete checkpoint (what ``last_checkpoint`` names), or ''."""
        last = self.checkpointer.last_name()
        return os.path.join(self.save_dir, last) if last else ""

    def get_all_checkpoint_files(self) -> List[str]:
        if not os.path.isdir(self.save_dir):
            return []
        return [os.path.join(self.save_dir, n) for n in sorted(os.listdir(self.save_dir))
                if n.endswith(".pth") and os.path.isfile(os.path.join(self.save_dir, n))]

    def resume_or_load(self, path: str, *, resume: bool = True):
        """Resume from the newest checkpoint that loads (when ``resume`` and there is one),
        else load ``path``. Same return as :meth:`load`."""
        if not (resume and self.has_checkpoint()):
            return self.load(path)
        self.checkpointer.remove_stale_temporaries()  # what a killed save left behind
        found = self.checkpointer.load_latest()
        if found is None:
            failures = "; ".join(f"{p}: {why}" for p, why in self.checkpointer.load_failures)
            raise EngineError(f"resume: no checkpoint in {self.save_dir} loads ({failures})")
        return found[1]["model"], found[1].get("checkpointables")

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        atomic_write_text(os.path.join(self.save_dir, LAST), last_filename_basename)
