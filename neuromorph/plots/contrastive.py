"""PNG figures of the contrastive experiments (docs/figures).

Conventions of :mod:`neuromorph.plots.style` (Agg canvas, no pyplot), one function per figure,
each writes ``path`` and returns it. The functions read the study's result objects by attribute
(``scheme``, ``test_acc``, ``raster``, ...) and import nothing from :mod:`neuromorph.contrastive`.

* :func:`learning_curves` — test accuracy per epoch of the three schemes (mean and seeds);
* :func:`raster` — the first epoch of a temporally local run: phase, broadcast signal s(t), the output
  rates and the change of four weights against time (Williams et al. 2023, Fig. 1);
* :func:`kappa_figure` — measured vs predicted κ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neuromorph.plots.style import PALETTE, cycle_color, integer_axis, save, styled

__all__ = ["kappa_figure", "learning_curves", "raster", "training_figures"]

_DPI = 150
_COLORS = {"classical": "#000000", "periodic": PALETTE[0], "random": PALETTE[1]}


@styled
def learning_curves(curves, title: str, path: Path) -> Path:
    """Test accuracy per epoch of each scheme in ``curves``: every seed thin, their mean thick."""
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    schemes = list(dict.fromkeys(c.scheme for c in curves))
    for k, scheme in enumerate(schemes):
        runs = np.array([c.test_acc for c in curves if c.scheme == scheme])
        epochs = np.arange(runs.shape[1])
        color = _COLORS.get(scheme, cycle_color(k + 2))
        for r in runs:
            ax.plot(epochs, r, color=color, alpha=0.35, lw=0.9)
        ax.plot(epochs, runs.mean(0), color=color, lw=2.2, ls=("-", "--", ":", "-.")[k % 4],
                label=f"{scheme}: mean of {len(runs)} seeds (final {runs[:, -1].mean():.3f})")
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", alpha=0.5, lw=0.9, label="thin lines: single seeds"))
    ax.set(xlabel="epoch (one presentation of the training set)", ylabel="test accuracy (fraction)", ylim=(0, 1.02))
    ax.set_title(title, fontsize=9.5)
    integer_axis(ax, "x")
    ax.legend(handles=handles, loc="lower right")
    return save(fig, path, _DPI)


@styled
def raster(curve, title: str, path: Path, max_steps: int = 400) -> Path:
    """Phase, signal s(t), output rates and weight changes of ``curve.raster`` over its first ``max_steps``."""
    r = curve.raster
    n = min(max_steps, len(r["phase"]))
    t = np.arange(n)
    fig = Figure(figsize=(8, 6.5), layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    axes[0].fill_between(t, 0, r["phase"][:n].astype(float), step="post", color=PALETTE[1], alpha=0.45, lw=0)
    axes[0].set(ylabel="phase (1 = +)", yticks=[0, 1])
    axes[0].set_title("teaching phase: 1 = nudged (+), 0 = free (−)", loc="left")
    axes[1].step(t, r["signal"][:n], where="post", color=PALETTE[1])
    axes[1].set(ylabel="s(t)")
    axes[1].set_title("broadcast signal s(t)", loc="left")
    rates = np.asarray(r["rate_out"][:n]).reshape(n, -1)
    for k in range(rates.shape[1]):
        axes[2].plot(t, rates[:, k], color=cycle_color(k), label=f"output {k}")
    axes[2].set(ylabel="rate (a.u.)")
    axes[2].set_title("output rates", loc="left")
    change = np.asarray(r["weight"][:n] - r["weight"][0]).reshape(n, -1)
    for k in range(change.shape[1]):
        axes[3].plot(t, change[:, k], color=cycle_color(k), ls=("-", "--", ":", "-.")[k % 4], label=f"W₂[0, {k}]")
    axes[3].set(ylabel="ΔW since step 0", xlabel="step")
    axes[3].set_title("change of four weights of the output layer", loc="left")
    integer_axis(axes[3], "x")
    for ax in axes[2:]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title)
    return save(fig, path, _DPI)


def training_figures(curves, card, out: Path) -> list[Path]:
    """The learning curves and one raster per temporally local scheme, next to ``out``."""
    stem = out.with_suffix("")
    name = f"{card.task.name} ({card.model}), seeds {list(card.train.seeds)}"
    paths = [learning_curves(curves, name, Path(f"{stem}_curves.png"))]
    for c in curves:
        if c.raster is not None:
            paths.append(raster(c, f"{card.task.name}: {c.scheme} phases, seed {c.seed}, first epoch",
                                Path(f"{stem}_raster_{c.scheme}.png")))
    return paths


@styled
def kappa_figure(results, path: Path) -> Path:
    """Measured against predicted shrinkage kappa, one marker per case, with the identity line."""
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for k, r in enumerate(results):
        marker = "s" if r.case.process == "periodic" else ("^" if r.case.mean_plus != r.case.mean_minus else "o")
        ax.errorbar(r.predicted, r.measured, yerr=r.stderr, fmt=marker, ms=7, capsize=3, color=cycle_color(k),
                    label=r.case.label)
    lo = min(min(r.predicted, r.measured) for r in results) - 0.05
    ax.plot([lo, 1], [lo, 1], "k--", lw=1.0, label="identity (measured = predicted)")
    ax.set(xlabel="predicted κ (dimensionless)", ylabel="measured κ (± s.e.)")
    ax.set_title("transient shrinkage κ; telegraph: κ = 1/(1 + τ(1/T₊ + 1/T₋))")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="case (T and τ in the same time units)")
    return save(fig, path, _DPI)
