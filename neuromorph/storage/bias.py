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

import os
from pathlib import Path

import h5py
import numpy as np

from neuromorph.storage import atomic_hdf5, open_results

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
    with atomic_hdf5(path, FORMAT, FORMAT_VERSION, kind=kind, card=card_toml) as f:
        _write(f, tree)
    return Path(path)


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
    with open_results(path, FORMAT, FORMAT_VERSION, "a bias-study summary") as f:
        return {k: v for k, v in _read(f).items() if k != "versions"}
