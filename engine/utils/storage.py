"""File-system errors as one line: what failed, on which path, and what to do.

A full disk, a read-only mount, missing permissions, a path under a file or too many
open files are not bugs: the run stops with one ``error:`` line (exit 2, like any bad
input) instead of a traceback. :class:`StorageError` is both an ``EngineError`` (the
scheduler reports it in one line) and an ``OSError`` (code that handles OS errors keeps
working, ``errno`` and ``filename`` included).
"""
import errno

from .errors import EngineError

__all__ = ["StorageError", "storage_error"]

# {setting}: what the user sets to choose the place (output_dir for a run, a tool's option)
_WHAT_TO_DO = {
    errno.ENOSPC: "the file system is full (space or inodes): free some, or set {setting} to another disk",
    errno.EDQUOT: "the disk quota is exhausted: free some space, or set {setting} to another disk",
    errno.EROFS: "the file system is read-only: set {setting} to a writable place",
    errno.EACCES: "permission denied: make the folder writable for this user, or set {setting} elsewhere",
    errno.EPERM: "operation not permitted: make the folder writable for this user, or set {setting} elsewhere",
    errno.ENOTDIR: "a part of the path is a file, not a folder: move that file away or set {setting} elsewhere",
    errno.EEXIST: "a file stands where a folder is needed: move it away or set {setting} elsewhere",
    errno.EISDIR: "a folder stands where a file is written: move it away",
    errno.EMFILE: "this process has too many open files: raise the limit (ulimit -n) or lower dataloader.num_workers",
    errno.ENFILE: "the system has too many open files: close some programs or raise fs.file-max",
    errno.ENAMETOOLONG: "the path is too long: use a shorter output_dir / output_log_name",
    errno.EIO: "the device reported an I/O error: check the disk (dmesg)",
}


class StorageError(EngineError, OSError):
    """An OSError on a path of the run, worded for the user."""

    def __str__(self):  # the message, not OSError's "[Errno N] ..." form
        return str(self.args[0]) if self.args else ""


def storage_error(error: OSError, path: str, doing: str, setting: str = "output_dir") -> StorageError:
    """``error`` (raised while ``doing`` on ``path``) as one line with what to do
    (``setting``: the key or option that chooses the place)."""
    if isinstance(error, StorageError):
        return error
    code = error.errno
    name = errno.errorcode.get(code, "error") if code is not None else type(error).__name__
    hint = _WHAT_TO_DO.get(code, "check the path and the file system").format(setting=setting)
    reason = error.strerror or str(error)
    message = f"cannot {doing} {path!r}: {reason} ({name}); {hint}"
    result = StorageError(message)
    result.errno, result.strerror, result.filename = code, reason, path
    return result
