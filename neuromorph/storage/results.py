"""Other results files (studies, comparisons, chip images): written atomically, read with one check.

:func:`atomic_hdf5` gives a new file its ``format``, ``format_version``, ``created`` and
``/versions``; :func:`open_results` refuses a missing, foreign, newer or corrupt file with a
:class:`StorageError` that names what was expected.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from neuromorph.errors import StorageError
from neuromorph.storage.atomic import STORAGE_FAILURES, atomic_path
from neuromorph.storage.run import _scalar, package_versions

__all__ = ["atomic_hdf5", "open_results", "write_groups"]


def write_groups(group: h5py.Group, content: dict) -> None:
    """Write nested ``content`` under ``group``: a dict becomes a subgroup, the key ``attrs`` (a dict)
    becomes the group's attributes, a list of strings a string dataset, anything else an array."""
    for key, value in content.items():
        if key == "attrs":
            group.attrs.update(value)
        elif isinstance(value, dict):
            write_groups(group.require_group(key), value)
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            group[key] = np.array(value, dtype=h5py.string_dtype())
        else:
            group[key] = np.asarray(value)


@contextmanager
def atomic_hdf5(path: str | os.PathLike[str], fmt: str, version: int, **attrs: object) -> Iterator[h5py.File]:
    """A new results file at ``path`` (format ``fmt``), written atomically like :func:`write_run`.

    Yields an open :class:`h5py.File` whose root already carries ``format``, ``format_version``,
    ``created`` and ``attrs``, and a ``/versions`` group; on leaving the block the file is flushed,
    fsynced and renamed over ``path``. On an exception nothing at ``path`` changes; an OS or h5py
    failure becomes :class:`StorageError` naming ``path`` and the fix.
    """
    with atomic_path(Path(path), f"{fmt} file") as tmp:
        with h5py.File(tmp, "x") as f:
            f.attrs.update(format=fmt, format_version=version, **attrs,
                           created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
            f.create_group("versions").attrs.update(package_versions())
            yield f
            f.flush()


@contextmanager
def open_results(path: str | os.PathLike[str], fmt: str, version: int, what: str) -> Iterator[h5py.File]:
    """Open a results file of format ``fmt`` (at most ``version``) for reading.

    A missing, unreadable, foreign (another ``format``), newer or truncated file raises
    :class:`StorageError` with a message that names ``what`` was expected.
    """
    path = Path(path)
    if not path.exists():
        raise StorageError(f"{path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            found = _scalar(f.attrs.get("format"))
            if found != fmt:
                raise StorageError(f"{path} is not {what} (format {found!r}, expected {fmt!r})")
            if int(f.attrs.get("format_version", -1)) > version:
                raise StorageError(f"{path} has format version {f.attrs.get('format_version')}, newer than this "
                                   f"neuromorph reads ({version}); upgrade neuromorph")
            yield f
    except StorageError:
        raise
    except STORAGE_FAILURES as exc:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StorageError(f"{path} is not a readable HDF5 file (corrupt or truncated?): {cause}") from None
    except KeyError as exc:
        raise StorageError(f"{path} is missing {exc}; the file is truncated or foreign") from None
