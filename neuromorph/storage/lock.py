"""One writer per output file: an advisory ``fcntl.flock`` on a hidden ``.<name>.lock`` beside it.

Two processes training different cards to the same ``--out`` used to both exit 0, the file holding
whichever finished last. The output itself cannot carry the lock (every write replaces it with a
new inode, :mod:`.atomic`), so a sidecar file does: it records the holder (pid, host, start time),
and a second writer is refused at once with one line naming it. The lock dies with its process
(SIGKILL included: the kernel releases it), so a crashed run never blocks the next one. The
sidecar is removed on release; a writer that locked a sidecar that was meanwhile removed retries.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import functools
import inspect
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from neuromorph.errors import StorageError
from neuromorph.storage.atomic import storage_error

__all__ = ["lock_path", "one_writer", "output_lock"]


def lock_path(path: Path) -> Path:
    """The sidecar lock file of ``path``."""
    return path.with_name(f".{path.name}.lock")


def _holder(lock: Path) -> str:
    try:
        return lock.read_text().strip() or "another process"
    except OSError:
        return "another process"


def _acquire(path: Path) -> int:
    lock = lock_path(path)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(lock, exc, "create the lock file") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageError(f"{path} is being written by {_holder(lock)}; wait for it to finish or choose "
                               f"another output (lock: {lock})") from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder released and removed it between our open and our lock: try again


@contextmanager
def output_lock(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the one-writer lock of ``path`` in the block; a held lock raises :class:`StorageError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(path.parent, exc, "create the directory") from exc
    fd = _acquire(path)
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since {started}\n".encode())
    try:
        yield path
    finally:
        lock_path(path).unlink(missing_ok=True)
        os.close(fd)  # closing releases the flock


def one_writer(func: Callable) -> Callable:
    """Decorate a function whose argument ``out`` is an output file: hold its lock during the call."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        out = signature.bind(*args, **kwargs).arguments.get("out")
        if out is None:
            return func(*args, **kwargs)
        with output_lock(out):
            return func(*args, **kwargs)

    return wrapper
