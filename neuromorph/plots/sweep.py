"""Figures of a gain sweep (``neuromorph sweep-report DIR``), drawn from the summary of
:func:`neuromorph.sweep.report.summarise`: a dict keyed by ``(task, rule, gain, flossing)`` whose
values hold ``lr``, ``loss_mean``, ``loss_sd``, ``le_before`` and ``le_after`` (Zhang, Liu & Liu, "How
initial connectivity shapes biologically plausible learning in recurrent neural networks"; docs/gain.md).

* ``gain_loss_<task>.png``: loss vs iteration per gain, mean ± sd over seeds, one panel per rule
  (no flossing);
* ``gain_lyapunov.png``: maximal Lyapunov exponent before and after training vs gain, per task
  and rule (mean ± sd over seeds);
* ``gain_flossing.png``: e-prop loss with and without local pre-flossing, per gain and task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuromorph.plots.style import save

__all__ = ["RULE_LABELS", "plot_gain_flossing", "plot_gain_loss", "plot_gain_lyapunov", "sweep_figures"]

_DPI = 110
#: The rules a sweep can hold, in the order of the panels, with their labels.
RULE_LABELS = {"bptt": "BPTT", "eprop": "e-prop", "eprop_1step": "e-prop (1-step)", "rflo": "RFLO"}


def sweep_figures(summary: dict, out_dir: str | Path) -> list[Path]:
    """Write the loss figure of every task, the Lyapunov figure and (if any run flossed) the flossing figure."""
    out_dir = Path(out_dir)
    tasks = sorted({k[0] for k in summary})
    written = [plot_gain_loss(summary, task, out_dir / f"gain_loss_{task}.png") for task in tasks]
    written.append(plot_gain_lyapunov(summary, out_dir / "gain_lyapunov.png"))
    if any(k[3] for k in summary):
        written.append(plot_gain_flossing(summary, out_dir / "gain_flossing.png"))
    return written


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    """Trailing moving average over ``width`` iterations (edge-padded, same length)."""
    if width <= 1 or len(y) < width:
        return y
    kernel = np.ones(width) / width
    return np.convolve(np.pad(y, (width - 1, 0), mode="edge"), kernel, mode="valid")


def _rules(summary: dict) -> list[str]:
    return [r for r in RULE_LABELS if any(k[1] == r for k in summary)]


def _gains(summary: dict) -> list[float]:
    return sorted({k[2] for k in summary})


def _colors(gains: list[float]) -> dict:
    """One viridis colour per gain, from the smallest to the largest."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {g: cmap(i / max(1, len(gains) - 1)) for i, g in enumerate(gains)}


def _clip_top(ax, curves: list[np.ndarray]) -> None:
    """Cap the y axis at 30x the median of the curves' medians, so one diverged run does not flatten the rest."""
    if not curves:
        return
    cap = 30 * float(np.median([np.median(c) for c in curves]))
    if max(float(np.max(c)) for c in curves) > cap:
        ax.set_ylim(top=cap)
        ax.text(0.99, 0.01, "y axis clipped", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)


def _loss_panel(ax, summary, task, rule, floss, colors, smooth, style="-", label_suffix=""):
    """Mean loss (band: ± sd, at least mean/5) of each gain for one (task, rule, flossing); returns the means."""
    plotted = []
    for gain, color in colors.items():
        s = summary.get((task, rule, gain, floss))
        if s is None:
            continue
        mean, sd = _smooth(s["loss_mean"], smooth), _smooth(s["loss_sd"], smooth)
        it = np.arange(1, len(mean) + 1)
        ax.plot(it, mean, style, color=color, label=f"g = {gain:g}{label_suffix} (lr {s['lr']:g})")
        plotted.append(mean)
        ax.fill_between(it, np.maximum(mean - sd, mean / 5), mean + sd, color=color, alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    return plotted


def plot_gain_loss(summary: dict, task: str, path: str | Path) -> Path:
    """Loss vs iteration of ``task`` per gain, one panel per rule (without flossing)."""
    rules, colors = _rules(summary), _colors(_gains(summary))
    n = max(len(v["loss_mean"]) for k, v in summary.items() if k[0] == task)
    smooth = max(1, n // 50)
    fig = Figure(figsize=(5 * len(rules), 4))
    axes = fig.subplots(1, len(rules), sharey=True, squeeze=False)[0]
    for ax, rule in zip(axes, rules):
        _clip_top(ax, _loss_panel(ax, summary, task, rule, False, colors, smooth))
        ax.set_title(f"{task}: {RULE_LABELS[rule]}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"loss: mean ± sd over seeds (band ≥ mean/5), smoothed over {smooth} it", fontsize=8)
    fig.tight_layout()
    return save(fig, path, _DPI)


def plot_gain_lyapunov(summary: dict, path: str | Path) -> Path:
    """Maximal Lyapunov exponent before (first rule's runs) and after training vs gain, one panel per task."""
    tasks, rules, gains = sorted({k[0] for k in summary}), _rules(summary), _gains(summary)
    fig = Figure(figsize=(4.5 * len(tasks), 3.8))
    axes = fig.subplots(1, len(tasks), sharey=True, squeeze=False)[0]
    for ax, task in zip(axes, tasks):
        for i, rule in enumerate(rules):
            rows = [(g, summary[(task, rule, g, False)]) for g in gains if (task, rule, g, False) in summary]
            if not rows:
                continue
            g = np.array([r[0] for r in rows])
            if i == 0:
                before = np.array([r[1]["le_before"] for r in rows])
                ax.errorbar(g, before.mean(1), before.std(1), fmt="o--", color="grey", label="before training")
            after = np.array([r[1]["le_after"] for r in rows])
            ax.errorbar(g, after.mean(1), after.std(1), fmt="o-", label=f"after, {RULE_LABELS[rule]}")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_title(task)
        ax.set_xlabel("initial gain g")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(r"max Lyapunov exponent $\lambda_1$ (per step)")
    fig.tight_layout()
    return save(fig, path, _DPI)


def plot_gain_flossing(summary: dict, path: str | Path) -> Path:
    """e-prop loss with (dashed) and without pre-flossing per gain, one panel per task that flossed."""
    tasks, colors = sorted({k[0] for k in summary}), _colors(_gains(summary))
    flossed = [t for t in tasks if any(k[0] == t and k[3] for k in summary)]
    n = max(len(v["loss_mean"]) for v in summary.values())
    smooth = max(1, n // 50)
    fig = Figure(figsize=(5 * len(flossed), 4))
    axes = fig.subplots(1, len(flossed), squeeze=False)[0]
    for ax, task in zip(axes, flossed):
        plotted = _loss_panel(ax, summary, task, "eprop", False, colors, smooth)
        plotted += _loss_panel(ax, summary, task, "eprop", True, colors, smooth, style="--",
                               label_suffix=" + flossing")
        _clip_top(ax, plotted)
        ax.set_title(f"{task}: e-prop, with (dashed) and without pre-flossing")
        ax.legend(fontsize=6)
    axes[0].set_ylabel("loss: mean ± sd over seeds (band ≥ mean/5)", fontsize=8)
    fig.tight_layout()
    return save(fig, path, _DPI)
