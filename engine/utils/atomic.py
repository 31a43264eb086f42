"""Writes that never leave a half-written file under the final name.

Write to a temporary file in the same folder, flush and fsync it, rename it over the
target (atomic on POSIX), then fsync the folder so the rename itself is durable. A crash
at any point leaves either the old file or the new one, never a torn one.

The temporary file is created with mode 0666 minus the umask, as ``open()`` would
(``tempfile.mkstemp`` makes 0600, unreadable to other users and containers running
as another uid). Any OS error (disk full, read-only, permissions, ...) is raised as a
:class:`~engine.utils.storage.StorageError` naming the path and what to do, also
when the writer hides it (``torch.save`` reports a full disk as ``RuntimeError:
unexpected pos``: the file object handed to ``write`` remembers the real error). A
KeyboardInterrupt (Ctrl-C twice) that torch's writer turns into the same RuntimeError is
raised as the KeyboardInterrupt it is, after the temporary file is removed.

:func:`check_writable` (a folder) and :func:`check_writable_file` (an output file) make
such a write, of a probe, before the work starts, so an unwritable place is found at once.
"""
import contextlib
import errno
import io
import os
import secrets
from typing import Callable, Iterator, Optional

from .storage import storage_error

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_path", "check_writable",
           "check_writable_file"]


class _RecordingFile(io.RawIOBase):
    """The temporary file as ``write`` sees it: remembers the first OSError it raised."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw
        self.error: Optional[OSError] = None

    def writable(self):
        return True

    def write(self, data):
        try:
            return self._raw.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self):
        self._raw.flush()

    def fileno(self):
        return self._raw.fileno()


def _create_temporary(path: str):
    """A new file beside ``path`` (``.<name>.<random>.tmp``), mode 0666 & ~umask."""
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue


def atomic_write(path: str, write: Callable[[io.BufferedWriter], None], *, doing: str = "write") -> None:
    folder = os.path.dirname(os.path.abspath(path))
    tmp, recorder = None, None
    try:
        os.makedirs(folder, exist_ok=True)
        tmp, fd = _create_temporary(path)
        with os.fdopen(fd, "wb") as f:
            recorder = _RecordingFile(f)
            write(recorder)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        cause = recorder.error if recorder is not None and recorder.error is not None else e
        if isinstance(cause, OSError):
            raise storage_error(cause, path, doing) from None
        interrupt = _interrupt_behind(e)
        if interrupt is not None:
            raise interrupt from None
        raise
    _fsync_dir(folder)


def _interrupt_behind(error: BaseException) -> Optional[BaseException]:
    """The KeyboardInterrupt (a second Ctrl-C) that ``error`` hides, if any. Raised inside
    torch.save's zip writer (C++ calling our ``write``), it comes out as torch's "unexpected
    pos" RuntimeError raised while handling it: the interrupt is its ``__context__``."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def atomic_write_bytes(path: str, data: bytes, *, doing: str = "write") -> None:
    atomic_write(path, lambda f: f.write(data), doing=doing)


def atomic_write_text(path: str, text: str, *, doing: str = "write") -> None:
    atomic_write_bytes(path, text.encode("utf-8"), doing=doing)


@contextlib.contextmanager
def atomic_path(path: str, *, doing: str = "write") -> Iterator[str]:
    """For writers that need a file name (``torch.onnx.export``): yields a temporary
    path beside ``path``; when the block ends without an error the file there is fsynced
    and renamed over ``path``, otherwise it is removed and ``path`` is left as it was
    (a check that fails inside the block, e.g. onnx.checker, never replaces a good file)."""
    folder = os.path.dirname(os.path.abspath(path))
    created = []  # the folders made for it, deepest first: removed again on failure
    parent = folder
    while not os.path.exists(parent):
        created.append(parent)
        parent = os.path.dirname(parent)
    try:
        os.makedirs(folder, exist_ok=True)
        tmp, fd = _create_temporary(path)
        os.close(fd)
    except OSError as e:
        raise storage_error(e, path, doing) from None
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        for leftover in [tmp] + created:
            try:
                (os.rmdir if leftover in created else os.unlink)(leftover)
            except OSError:
                break
        if isinstance(e, OSError):
            raise storage_error(e, path, doing) from None
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(folder: str, what: str = "folder", setting: str = "output_dir") -> None:
    """Create ``folder`` if needed and write, fsync and delete a probe file in it, so an
    unwritable place is found before the work rather than at the first save (a run's
    folders; the tools' output folders, ``setting`` naming their option). The probe's
    name (``.write-probe.*.tmp``) is one the checkpointer removes if a kill leaves it."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise storage_error(e, folder, f"create the {what}", setting) from None
    if not os.path.isdir(folder):
        raise storage_error(OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), folder, f"use the {what}", setting)
    probe = os.path.join(folder, ".write-probe")
    try:
        atomic_write_bytes(probe, b"probe\n")
        os.unlink(probe)
    except OSError as e:
        raise storage_error(OSError(e.errno, e.strerror), probe, f"write in the {what}", setting) from None


def check_writable_file(path: str, what: str, setting: str) -> None:
    """An output file's folder must be writable (check_writable) and ``path`` no folder."""
    if os.path.isdir(path):
        raise storage_error(OSError(errno.EISDIR, os.strerror(errno.EISDIR)), path, f"write the {what}", setting)
    check_writable(os.path.dirname(os.path.abspath(path)), f"{what}'s folder", setting)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise storage_error(OSError(errno.EACCES, os.strerror(errno.EACCES)), path, f"write the {what}", setting)
