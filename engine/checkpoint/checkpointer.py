"""Checkpoints of a run: ``checkpoints/model_<iter:07d>.pth`` + ``last_checkpoint``.

Every file is written to a temporary name beside it, fsynced and renamed over the real
name (engine/utils/atomic.py): a crash (SIGKILL, power loss) at any moment leaves
the previous file or the new one, never a torn one under a real name. ``last_checkpoint``
names the newest *complete* checkpoint and is rewritten only after that checkpoint's
rename, so it never points at a torn file. A temporary file left by a killed save is
removed on the next resume (:meth:`Checkpointer.remove_stale_temporaries`).

On resume a checkpoint that does not load is reported with its path and the next older
one (periodic, top-k or final, by the iteration it holds) is tried (:meth:`Checkpointer.load_latest`; the failures are kept in
``load_failures``). Pruning keeps the ``max_keep`` newest periodic checkpoints and never
deletes the one ``last_checkpoint`` names, ``model_best.pth`` or ``model_final.pth``.

Every checkpoint is verified against the CRC32 checksums written inside it before it
is loaded (integrity.py): a damaged one is reported and the next older one used.
``last_checkpoint`` is read defensively: anything but the name of a file in this
folder (binary content, an absolute path, ``../other_run/...``) is reported and
ignored. A disk error while saving is one line naming the file and what to do
(engine/utils/storage.py); the checkpoints already written and ``last_checkpoint`` stay as they were.
"""
import contextlib
import logging
import os
import re
import shutil
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..utils.atomic import atomic_write, atomic_write_text
from ..utils.storage import StorageError
from .integrity import verify_checkpoint
from .names import CHECKPOINT as _CHECKPOINT, FINAL, LAST_CHECKPOINT as LAST, NUMBERED as _NUMBERED
from .names import PERIODIC as _PERIODIC, periodic_name
from .sharded import TRAINER, is_sharded, read_sharded, save_sharded

__all__ = ["Checkpointer", "periodic_name", "load_checkpoint", "read_entry"]

logger = logging.getLogger(__name__)

_TEMPORARY = re.compile(r"^\..+\.tmp$")  # atomic_write's temporary names
_NAME = re.compile(r"^[\w.-]+$")  # what last_checkpoint may hold: a plain file name


class Checkpointer:
    def __init__(self, folder: str, max_keep: int = 20, enabled: bool = True):
        self.folder = folder
        self.max_keep = int(max_keep)
        self.enabled = enabled  # only the main process writes
        self.load_failures: List[Tuple[str, str]] = []  # (path, reason) from load_latest

    # ------------------------------------------------------------------ writing
    def save(self, name: str, payload: Dict[str, Any], *, update_last: bool = True) -> Optional[str]:
        if not self.enabled:
            return None
        path = os.path.join(self.folder, name)
        with self._saving(name):
            self._write(path, payload)
        return self.commit(name, update_last=update_last)

    @contextlib.contextmanager
    def _saving(self, name: str):
        """A disk error while saving ``name``: one line saying what is intact."""
        try:
            yield
        except StorageError as e:
            newest = self.last_name()
            raise StorageError(
                f"{e}; checkpoint {name} was not saved, the checkpoints already written are intact "
                f"(last_checkpoint names {newest or 'none'}; continue later with --resume)") from None

    def commit(self, name: str, *, update_last: bool = True) -> str:
        """``name`` is written completely: name it in ``last_checkpoint``, prune."""
        path = os.path.join(self.folder, name)
        if update_last:
            with self._saving(name):
                atomic_write_text(os.path.join(self.folder, LAST), name + "\n")
        self._prune()
        logger.info("saved checkpoint %s", path)
        return path

    def save_sharded(self, name: str, model_state, payload: Dict[str, Any], optimizer_order: dict, *,
                     update_last: bool = True) -> Optional[str]:
        """A distributed checkpoint (sharded.py): every process calls this and writes its
        shards; the main process writes the rest, names it in ``last_checkpoint``, prunes."""
        with self._saving(name):
            save_sharded(os.path.join(self.folder, name), model_state, payload, optimizer_order, main=self.enabled)
        return self.commit(name, update_last=update_last) if self.enabled else None

    def _write(self, path: str, payload: Dict[str, Any]) -> None:
        """The one place bytes are written (tests subclass it to crash mid-write)."""
        atomic_write(path, lambda f: torch.save(payload, f))

    def remove_stale_temporaries(self) -> List[str]:
        """Delete temporary files that a save killed mid-write left behind."""
        if not self.enabled or not os.path.isdir(self.folder):
            return []
        removed = []
        for name in sorted(os.listdir(self.folder)):
            if _TEMPORARY.match(name):
                try:
                    _remove(os.path.join(self.folder, name))
                    removed.append(name)
                except OSError:
                    pass
        if removed:
            logger.info("removed %d temporary file(s) left by an interrupted save: %s",
                        len(removed), ", ".join(removed))
        return removed

    def _prune(self) -> None:
        if self.max_keep <= 0:
            return
        keep_last = self._read_last()
        periodic = self.periodic_checkpoints()
        for path in periodic[: max(0, len(periodic) - self.max_keep)]:
            if os.path.basename(path) != keep_last:
                try:
                    _remove(path)
                except FileNotFoundError:  # already gone: nothing to prune
                    pass

    # ------------------------------------------------------------------ reading
    def periodic_checkpoints(self) -> List[str]:
        """Periodic checkpoint paths, oldest first."""
        if not os.path.isdir(self.folder):
            return []
        names = sorted(n for n in os.listdir(self.folder) if _PERIODIC.match(n))
        return [os.path.join(self.folder, n) for n in names]

    def _read_last(self) -> Optional[str]:
        """The checkpoint name in ``last_checkpoint``; None (with a warning) when the file
        holds anything else: it may only name a file of this folder."""
        path = os.path.join(self.folder, LAST)
        if not os.path.isfile(path):
            return None
        try:
            with open(path, "rb") as f:
                raw = f.read(4097)
        except OSError as e:
            logger.warning("cannot read %s (%s); ignoring it", path, e)
            return None
        try:
            name = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            name = None
        if name is not None and not name:
            return None
        if name is None or len(raw) > 4096 or not _NAME.match(name) or name in (".", ".."):
            shown = repr(raw[:60]) if name is None else repr(name[:80])
            logger.warning("%s does not hold the name of a checkpoint in %s (it holds %s); ignoring it "
                           "and looking at the checkpoint files themselves", path, self.folder, shown)
            return None
        return name

    def last_name(self) -> Optional[str]:
        """The name ``last_checkpoint`` holds (the newest complete checkpoint), or None."""
        return self._read_last()

    def has_checkpoint(self) -> bool:
        """Whether the folder holds a run's work: a checkpoint to resume from, or any other
        ``model_*.pth`` (a lone ``model_best.pth`` too), which a fresh start would replace."""
        return bool(self.candidates() or self.saved_files())

    def saved_files(self) -> List[str]:
        """Every checkpoint file of the folder (``model_*.pth``), by name."""
        if not os.path.isdir(self.folder):
            return []
        return [os.path.join(self.folder, n) for n in sorted(os.listdir(self.folder)) if _CHECKPOINT.match(n)]

    def candidates(self) -> List[str]:
        """Checkpoints to resume from, newest first: the one ``last_checkpoint`` names,
        then the periodic, top-k (``model_top_<iteration>.pth``) and final ones by the
        iteration they hold, ``model_final.pth`` first among equals. Those are the files
        ``last_checkpoint`` may name: each was written once the step's stateful hooks had
        run. ``model_best.pth`` and ``model_last.pth`` are not: written in the middle of an
        evaluation's hooks (before ModelCheckpoint's, for one), a run continued from them
        would not be the run that wrote them; they are for deployment, not resume."""
        last = self._read_last()
        first = [os.path.join(self.folder, last)] if last else []

        def newest_first(path: str):
            numbered = _NUMBERED.match(os.path.basename(path))
            iteration = int(numbered.group(1)) if numbered else read_entry(path, "iteration")
            return (iteration if isinstance(iteration, int) else -1, not numbered)

        others = [p for p in self.saved_files()
                  if p not in first and (_NUMBERED.match(os.path.basename(p)) or os.path.basename(p) == FINAL)]
        return first + sorted(others, key=newest_first, reverse=True)

    def load_latest(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        """The newest checkpoint that loads, as (path, payload); None if there is none.
        Each one that does not load is logged with its path and reason, and recorded in
        ``self.load_failures``."""
        self.load_failures = []
        for path in self.candidates():
            try:
                return path, load_checkpoint(path)
            except Exception as e:  # a torn or corrupt file: say so, fall back
                reason = f"{type(e).__name__}: {e}"
                self.load_failures.append((path, reason))
                logger.warning("checkpoint %s does not load (%s); trying an older one", path, reason)
        return None


def _remove(path: str) -> None:
    """A checkpoint file, or a distributed checkpoint's folder."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def read_entry(path: str, key: str, default: Any = None) -> Any:
    """One top-level entry of a checkpoint, without reading its tensors (memory-mapped);
    ``default`` when the file is missing, unreadable or lacks the entry."""
    if is_sharded(path):
        path = os.path.join(path, TRAINER)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return default
    return payload.get(key, default) if isinstance(payload, dict) else default


def load_checkpoint(path: str) -> Dict[str, Any]:
    """The payload of ``path``, after checking it against its checksums (a distributed
    checkpoint's ``model`` is read lazily: sharded.py)."""
    if is_sharded(path):
        return read_sharded(path)
    verify_checkpoint(path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "model" not in payload or "iteration" not in payload:
        raise ValueError("not an engine checkpoint (no 'model'/'iteration' entries)")
    return payload
