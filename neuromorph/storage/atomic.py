"""Atomic file writes and one translation of storage failures into :class:`StorageError`.

Every neuromorph output is written to a temporary ``<name>.tmp<PID>-<hex>`` in the destination
directory, flushed and fsynced, then renamed over the target with :func:`os.replace`: a reader
sees the previous complete file or the new one, never a partial one. A process killed mid-write
(SIGKILL, power loss) leaves its temporary behind; :func:`remove_stale_temps` deletes those of
processes that no longer run, at the next write to the same target.

h5py reports many I/O failures (a full disk above all) as ``RuntimeError``, not ``OSError``;
:func:`storage_error` turns both into a :class:`StorageError` that names the file and the fix.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neuromorph.errors import StorageError

__all__ = ["STORAGE_FAILURES", "atomic_path", "remove_stale_temps", "storage_error", "temp_name"]

#: What a failing HDF5 or file-system call raises: OSError (with errno) or h5py's RuntimeError.
STORAGE_FAILURES = (OSError, RuntimeError)

_FIXES = {
    errno.ENOSPC: "the disk is full: free space on that file system or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded: free space or write elsewhere",
    errno.EACCES: "permission denied: fix the permissions or choose a writable location",
    errno.EPERM: "operation not permitted: fix the permissions or choose a writable location",
    errno.EROFS: "the file system is read-only: choose a writable location",
    errno.ENOENT: "a directory on the path does not exist",
    errno.ENOTDIR: "a component of the path is a file, not a directory: choose another path",
    errno.EISDIR: "the path is a directory: give a file name",
}


def _reason(exc: BaseException) -> str:
    """The fix for ``exc``: from its errno, or (h5py's RuntimeError) from the errno in its text."""
    code = getattr(exc, "errno", None)
    if code is None:
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
        if code is None and "No space left" in str(exc):
            code = errno.ENOSPC
    if code in _FIXES:
        return _FIXES[code]
    return "check the free space and the permissions of that file system, then run again"


def storage_error(path: Path | str, exc: BaseException, action: str = "write") -> StorageError:
    """A one-line :class:`StorageError`: ``could not <action> <path>: <cause>; <fix>``."""
    cause = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()[0]
    return StorageError(f"could not {action} {path}: {cause}; {_reason(exc)}")


def temp_name(path: Path) -> Path:
    """A fresh temporary name next to ``path`` that records this process's id."""
    return path.with_name(f"{path.name}.tmp{os.getpid()}-{secrets.token_hex(4)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete ``<name>.tmp<PID>-*`` next to ``path`` whose process no longer runs; returns them."""
    removed = []
    pattern = re.compile(re.escape(path.name) + r"\.tmp(\d+)-[0-9a-f]+$")
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        found = pattern.match(candidate.name)
        if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))):
            try:
                candidate.unlink()
                removed.append(candidate)
            except OSError:
                continue
    return removed


def fsync_path(path: Path) -> None:
    """Flush ``path``'s data to the device."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextmanager
def atomic_path(path: Path, what: str = "file") -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed over ``path``.

    On any failure the temporary is removed and ``path`` is left as it was; an OS or h5py failure
    becomes :class:`StorageError` naming ``path`` and the fix. Stale temporaries of dead processes
    are removed first; the parent directory is created.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(path.parent, exc, "create the directory") from exc
    remove_stale_temps(path)
    tmp = temp_name(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
    except StorageError:
        raise
    except STORAGE_FAILURES as exc:
        raise storage_error(path, exc, f"write {what}") from exc
    finally:
        tmp.unlink(missing_ok=True)
