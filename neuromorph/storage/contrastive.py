"""HDF5 layout of a contrastive run (format ``neuromorph-contrastive``, version 1), written atomically.

::

    /                              attrs: format, format_version, created, card (TOML), kind, elapsed_s,
                                   backend ("torch" or "brian2"), brian2_target (brian2 runs),
                                   status ("running" while (scheme, seed) runs are missing, then "complete"),
                                   card_resolved (every card value as JSON: what a resume compares)
    /versions                      attrs: package -> version
    /curves/<scheme>/seed_<s>      train_acc, test_acc (epochs + 1); attrs final_test
    /params/<scheme>/seed_<s>      w1, w2, b1, b2 (final)
    /raster/<scheme>               phase, signal, rate_out, weight (first epoch, one example)
    /summary                       scheme (str), mean_final_test, std_final_test, n_seeds (complete files)
    /kappa                         label (str), tau, mean_plus, mean_minus, measured, stderr, predicted, cosine

``kind`` is "train" (a model card's three schemes) or "kappa" (the shrinkage table). The file is
written with :func:`neuromorph.storage.atomic_hdf5` (a temporary name, fsynced and renamed over the
target: a reader never sees a partial file) and read with :func:`neuromorph.storage.open_results`.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from neuromorph.storage import atomic_hdf5, open_results, write_groups

FORMAT = "neuromorph-contrastive"
FORMAT_VERSION = 1


def write_contrastive(path: str | os.PathLike[str], kind: str, card_toml: str, groups: dict[str, dict],
                      elapsed_s: float, **attrs: object) -> Path:
    """Write nested ``groups`` ({name: array, str list or {attrs: {...}} / subgroup}) atomically;
    ``attrs`` go to the root (e.g. ``backend``)."""
    with atomic_hdf5(path, FORMAT, FORMAT_VERSION, kind=kind, card=card_toml, elapsed_s=elapsed_s, **attrs) as f:
        for name, content in groups.items():
            write_groups(f.require_group(name), content)
    return Path(path)



def read_contrastive(path: str | os.PathLike[str]) -> dict:
    """The whole file as nested dicts of arrays (strings decoded), plus ``attrs`` at the root.

    Raises
    ------
    StorageError
        The file is missing, not HDF5, or not a ``neuromorph-contrastive`` file of this version.
    """
    with open_results(path, FORMAT, FORMAT_VERSION, "a contrastive run") as f:
        return _read_group(f)


def _read_group(group: h5py.Group) -> dict:
    out: dict = {"attrs": dict(group.attrs)}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item)
        else:
            value = item[()]
            if isinstance(value, np.ndarray) and value.dtype.kind == "O":
                value = np.array([v.decode() if isinstance(v, bytes) else v for v in value])
            out[key] = value
    return out
