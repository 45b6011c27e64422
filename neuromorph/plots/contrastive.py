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

from neuromorph.plots.style import save

__all__ = ["kappa_figure", "learning_curves", "raster", "training_figures"]

_DPI = 150
_COLORS = {"classical": "k", "periodic": "C0", "random": "C1"}


def learning_curves(curves, title: str, path: Path) -> Path:
    """Test accuracy per epoch of each scheme in ``curves``: every seed thin, their mean thick."""
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for scheme in dict.fromkeys(c.scheme for c in curves):
        runs = np.array([c.test_acc for c in curves if c.scheme == scheme])
        epochs = np.arange(runs.shape[1])
        color = _COLORS.get(scheme, None)
        for r in runs:
            ax.plot(epochs, r, color=color, alpha=0.25, lw=0.8)
        ax.plot(epochs, runs.mean(0), color=color, lw=2, label=f"{scheme} (final {runs[:, -1].mean():.3f})")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=title, ylim=(0, 1.02))
    ax.legend(loc="lower right", fontsize=8)
    return save(fig, path, _DPI)


def raster(curve, title: str, path: Path, max_steps: int = 400) -> Path:
    """Phase, signal s(t), output rates and weight changes of ``curve.raster`` over its first ``max_steps``."""
    r = curve.raster
    n = min(max_steps, len(r["phase"]))
    t = np.arange(n)
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    axes[0].fill_between(t, 0, r["phase"][:n].astype(float), step="post", color="C3", alpha=0.5)
    axes[0].set(ylabel="phase +", yticks=[0, 1], title=title)
    axes[1].step(t, r["signal"][:n], where="post", color="C3")
    axes[1].set(ylabel="s(t)")
    axes[2].plot(t, r["rate_out"][:n])
    axes[2].set(ylabel="output rates")
    axes[3].plot(t, r["weight"][:n] - r["weight"][0])
    axes[3].set(ylabel=r"$\Delta W_2$[0, :4]", xlabel="step")
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


def kappa_figure(results, path: Path) -> Path:
    """Measured against predicted shrinkage kappa, one marker per case, with the identity line."""
    fig = Figure(figsize=(4.8, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for r in results:
        marker = "s" if r.case.process == "periodic" else ("^" if r.case.mean_plus != r.case.mean_minus else "o")
        ax.errorbar(r.predicted, r.measured, yerr=r.stderr, fmt=marker, ms=6, capsize=2,
                    label=r.case.label)
    lo = min(min(r.predicted, r.measured) for r in results) - 0.05
    ax.plot([lo, 1], [lo, 1], "k--", lw=0.8)
    ax.set(xlabel=r"predicted $\kappa$", ylabel=r"measured $\kappa$",
           title=r"transient shrinkage $\kappa = 1/(1+\tau(1/T_+ + 1/T_-))$")
    ax.legend(fontsize=6.5, loc="upper left")
    return save(fig, path, _DPI)
