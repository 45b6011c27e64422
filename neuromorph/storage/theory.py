"""HDF5 layout of a theory comparison (format ``neuromorph-theory-compare``, version 1), written atomically.

::

    /                         attrs: format, format_version, created, card (TOML), elapsed_s
    /versions                 attrs: package -> version
    /table                    compound-free columns: rule, kind (str), lr, deviation, ratio (NaN if none)
    /learning/<kind>/<rule>   t, a, b, w (simulation), ode_a, ode_b, ode_w; attrs lr, deviation, leakage
    /rank/<i>                 sv_w, sv_b; attrs label, restricted, rank_w, rank_b, residual_w, o
    /rates                    w_star and one dataset per rule (λ_min)
    /order                    t, losses (steps, modes), predicted, measured (half-times)

The file is written to a temporary name in the destination directory, fsynced and renamed over
the target (:func:`os.replace`), so a reader never sees a partial file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from neuromorph.storage import atomic_hdf5, open_results, write_groups

FORMAT = "neuromorph-theory-compare"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TableRow:
    """One row of the deviation table."""

    rule: str
    kind: str
    lr: float
    deviation: float
    ratio: float  #: deviation(2η)/deviation(η), NaN when not measured
    bound: float  #: the tolerance the row is held to


def write_compare(path: str | os.PathLike[str], card_toml: str, rows: list[TableRow], groups: dict[str, dict],
                  elapsed_s: float) -> Path:
    """Write the table and the nested ``groups`` ({group: {name: array or {attr: value}}}) atomically."""
    with atomic_hdf5(path, FORMAT, FORMAT_VERSION, card=card_toml, elapsed_s=elapsed_s) as f:
        table = f.create_group("table")
        table["rule"] = np.array([r.rule for r in rows], dtype=h5py.string_dtype())
        table["kind"] = np.array([r.kind for r in rows], dtype=h5py.string_dtype())
        for col in ("lr", "deviation", "ratio", "bound"):
            table[col] = np.array([getattr(r, col) for r in rows], dtype=float)
        for name, content in groups.items():
            write_groups(f.require_group(name), content)
    return Path(path)



def read_table(path: str | os.PathLike[str]) -> list[TableRow]:
    """The deviation table of a comparison file.

    Raises
    ------
    StorageError
        The file is missing, not HDF5, or not a ``neuromorph-theory-compare`` file.
    """
    with open_results(path, FORMAT, FORMAT_VERSION, "a theory comparison") as f:
        t = f["table"]
        cols = {k: t[k][()] for k in ("rule", "kind", "lr", "deviation", "ratio", "bound")}
    return [TableRow(r.decode() if isinstance(r, bytes) else r, k.decode() if isinstance(k, bytes) else k,
                     float(lr), float(d), float(q), float(b))
            for r, k, lr, d, q, b in zip(*(cols[c] for c in ("rule", "kind", "lr", "deviation", "ratio", "bound")))]
