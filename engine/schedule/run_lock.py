"""One run per run directory: an OS-level lock on ``<run_dir>/run.lock``.

The main process (global rank 0, or the launcher of machine 0) takes an exclusive,
non-blocking ``fcntl.flock`` on ``run.lock`` before anything else in the run directory
is written, and holds it until it ends; its pid, host and start time are written into
the file. A second run into the same directory fails at once with exit 2, naming the
holder. The kernel drops the lock when the holding process dies, however it dies
(SIGKILL, OOM kill, power loss on local disks), so there are no stale locks to clean
up: the file stays, the lock does not. A forked child (a DataLoader worker) closes its
copy of the descriptor at once, so a worker outliving a killed main process for a
moment does not keep the directory locked.

Shared storage: on NFS (Linux >= 2.6.12) flock is carried out as a POSIX lock by the
server, so runs on different machines exclude each other as long as the mount has
locking on (not ``nolock``/``local_lock=all``); a lock of a machine that crashed is
released when the server's lease or lock recovery expires (NFSv4: about 90 s). On
Lustre the mount needs ``-o flock`` (``localflock`` locks per machine only). A file
system that refuses locks gets a warning and the run goes on unlocked. See doc/resume.md.
"""
import errno
import fcntl
import os
import socket
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from ..utils.atomic import check_writable
from ..utils.errors import EngineError
from ..utils.storage import storage_error
from .cluster_env import detect_launcher_group

__all__ = ["RunLock", "run_directory_lock", "is_main_launcher", "LOCK_NAME", "RunLockedError"]

LOCK_NAME = "run.lock"
_HELD = set()  # descriptors of the locks this process holds


def _forget_in_child() -> None:
    """After fork: drop the child's copies (closing them, never LOCK_UN, which would
    unlock the parent's lock too)."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class RunLockedError(EngineError):
    """Another live process holds the run directory."""


class RunLock:
    """The lock on one run directory (``acquire`` / ``release``; a context manager)."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, LOCK_NAME)
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        try:
            os.makedirs(self.run_dir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as e:
            raise storage_error(e, self.path, "create the run directory's lock file") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockedError(
                    f"run directory {self.run_dir!r} is in use by another run ({holder}; lock file "
                    f"{self.path}); wait for it to end, stop it, or set another output_dir/output_log_name"
                ) from None
            print(f"warning: cannot lock {self.path} ({os.strerror(e.errno or 0)}): this file system "
                  f"does not support flock; nothing stops a second run from writing into "
                  f"{self.run_dir!r}", file=sys.stderr, flush=True)
            return self
        self._fd = fd
        _HELD.add(fd)
        record = f"pid {os.getpid()} on host {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        except OSError as e:
            self.release()
            raise storage_error(e, self.path, "write") from None
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _HELD.discard(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return f"held by {text}" if text else "held by a process that has not written its pid yet"


def is_main_launcher(machine_rank: int = 0) -> bool:
    """Whether this process is the one that locks: global rank 0 of a torchrun/srun
    group, else (``--num-gpus``/``--num-machines`` launches) the launcher of machine 0."""
    group = detect_launcher_group()  # the launcher's own rule
    if group is not None:
        return group.rank == 0
    return int(machine_rank or 0) == 0


@contextmanager
def run_directory_lock(run_dir: str, *, main: bool = True, checkpoints: bool = True) -> Iterator[Optional[RunLock]]:
    """Hold the run directory for the time of the block (main process only), after
    checking that it and its ``checkpoints/`` folder can be written."""
    if not main:
        yield None
        return
    created = not os.path.exists(run_dir)
    lock = RunLock(run_dir).acquire()
    try:
        check_writable(run_dir, "run directory")
        if checkpoints:
            check_writable(os.path.join(run_dir, "checkpoints"), "checkpoints folder")
        yield lock
    finally:
        lock.release()
        if created:
            _remove_if_unused(run_dir)


def _remove_if_unused(run_dir: str) -> None:
    """A start that failed before writing anything leaves no run directory behind."""
    try:
        checkpoints = os.path.join(run_dir, "checkpoints")
        if os.path.isdir(checkpoints) and not os.listdir(checkpoints):
            os.rmdir(checkpoints)
        if set(os.listdir(run_dir)) <= {LOCK_NAME}:
            os.unlink(os.path.join(run_dir, LOCK_NAME))
            os.rmdir(run_dir)
    except OSError:
        pass
