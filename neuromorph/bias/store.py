"""HDF5 summary of a bias-learning study (format ``neuromorph-bias-study``, version 1), written atomically.

::

    /                  attrs: format, format_version, kind (multitask | gain | lorenz), card (TOML), created
    /versions          attrs: package -> version
    /<group>/...       nested groups of datasets; a group's scalar entries are stored as attributes

The per-run training files (``neuromorph train`` layout) sit next to it in ``runs/``. The summary
is written to a temporary name in the destination directory and renamed over the target
(:func:`os.replace`), so a reader never sees a partial file.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from pathlib import Path

import h5py
import numpy as np

from neuromorph.errors import StorageError
from neuromorph.storage import package_versions

FORMAT = "neuromorph-bias-study"
FORMAT_VERSION = 1


def _write(group: h5py.Group, tree: dict) -> None:
    for key, value in tree.items():
        if isinstance(value, dict):
            _write(group.create_group(key), value)
        elif isinstance(value, (str, int, float, bool, np.integer, np.floating)):
            group.attrs[key] = value
        else:
            array = np.asarray(value)
            group[key] = array.astype(h5py.string_dtype()) if array.dtype.kind in "UO" else array


def write_study(path: str | os.PathLike[str], kind: str, card_toml: str, tree: dict) -> Path:
    """Write ``tree`` ({name: array | scalar | subtree}) as a study summary, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, kind=kind, card=card_toml,
                           created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
            f.create_group("versions").attrs.update(package_versions())
            _write(f, tree)
            f.flush()
            os.fsync(f.id.get_vfd_handle())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _read(group: h5py.Group) -> dict:
    tree: dict = dict(group.attrs)
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            tree[key] = _read(item)
        else:
            value = item[()]
            tree[key] = item.asstr()[()] if item.dtype.kind == "O" else value
    return tree


def read_study(path: str | os.PathLike[str]) -> dict:
    """Read a summary back as a nested dict; a foreign or corrupt file raises :class:`StorageError`."""
    path = Path(path)
    if not path.exists():
        raise StorageError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise StorageError(f"{path} is not a bias-study summary (format {f.attrs.get('format')!r}, "
                                   f"expected {FORMAT!r})")
            if int(f.attrs["format_version"]) > FORMAT_VERSION:
                raise StorageError(f"{path} has format version {f.attrs['format_version']}, newer than this "
                                   f"neuromorph reads ({FORMAT_VERSION}); upgrade neuromorph")
            return {k: v for k, v in _read(f).items() if k != "versions"}
    except OSError as exc:
        raise StorageError(f"{path} is not a readable HDF5 file ({exc})") from None
