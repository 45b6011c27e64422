"""Figures of hardware-profile studies: where learning breaks as weights lose bits (shared style of
:mod:`neuromorph.plots.style`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuromorph.plots.style import integer_axis, overlap_styles, save, styled
from neuromorph.storage import read_run

__all__ = ["final_loss", "plot_weight_bits_sweep"]

_DPI = 100


def final_loss(path: str | os.PathLike[str], last: int = 10) -> float:
    """Mean loss of the last ``last`` iterations relative to the first iteration's loss."""
    loss = read_run(path).curves["loss"]
    return float(np.mean(loss[-last:]) / loss[0])


@styled
def plot_weight_bits_sweep(
    runs: dict[str, dict[int, str | os.PathLike[str]]], out: str | os.PathLike[str], reference: float | None = None,
) -> Path:
    """Relative final loss against weight bits, one line per rounding mode (``runs[label][bits] = run file``).

    ``reference`` draws the unquantised (ideal-profile) result as a horizontal line.
    """
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    n_points = max((len(by_bits) for by_bits in runs.values()), default=0)
    for (label, by_bits), style in zip(runs.items(), overlap_styles(len(runs), n_points)):
        bits = sorted(by_bits)
        style = {**style, "marker": style.get("marker", "o"), "markevery": None}  # a marker on every sweep point
        ax.plot(bits, [final_loss(by_bits[b]) for b in bits], label=label, **style)
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1.2, label="ideal profile (float64)")
    ax.axhline(1.0, color="0.45", ls=":", lw=1.2, label="no learning (final = initial)")
    ax.set_xlabel("weight bits (magnitude, + sign)")
    integer_axis(ax, "x")
    ax.set_ylabel("final loss / initial loss (last 10 iterations)")
    ax.set_title("e-prop on the sine task, loihi2 arithmetic")
    ax.legend()
    return save(fig, out, _DPI)
