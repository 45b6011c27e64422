"""Figures of hardware-profile studies: where learning breaks as weights lose bits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuromorph.plots.style import save
from neuromorph.storage import read_run

__all__ = ["final_loss", "plot_weight_bits_sweep"]

_DPI = 100


def final_loss(path: str | os.PathLike[str], last: int = 10) -> float:
    """Mean loss of the last ``last`` iterations relative to the first iteration's loss."""
    loss = read_run(path).curves["loss"]
    return float(np.mean(loss[-last:]) / loss[0])


def plot_weight_bits_sweep(
    runs: dict[str, dict[int, str | os.PathLike[str]]], out: str | os.PathLike[str], reference: float | None = None,
) -> Path:
    """Relative final loss against weight bits, one line per rounding mode (``runs[label][bits] = run file``).

    ``reference`` draws the unquantised (ideal-profile) result as a horizontal line.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, by_bits in runs.items():
        bits = sorted(by_bits)
        ax.plot(bits, [final_loss(by_bits[b]) for b in bits], marker="o", label=label)
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label="ideal (float64)")
    ax.axhline(1.0, color="0.6", ls=":", lw=1)
    ax.set_xlabel("weight bits (magnitude, + sign)")
    ax.set_ylabel("final loss / initial loss")
    ax.set_title("e-prop on the sine task, loihi2 arithmetic")
    ax.legend()
    fig.tight_layout()
    return save(fig, out, _DPI)
