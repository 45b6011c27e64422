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
from matplotlib.lines import Line2D

from neuromorph.plots.style import PALETTE, integer_axis, log_axis, save, sequential, shade_handle, styled

__all__ = ["RULE_LABELS", "plot_gain_flossing", "plot_gain_loss", "plot_gain_lyapunov", "sweep_figures"]

_DPI = 110
#: The rules a sweep can hold, in the order of the panels, with their labels.
RULE_LABELS = {"bptt": "BPTT", "eprop": "e-prop", "eprop_1step": "e-prop (1-step)", "rflo": "RFLO"}
_BAND_ALPHA = 0.15


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
    """One colour per gain, from the smallest (dark) to the largest (green), never viridis' light yellow."""
    return dict(zip(gains, sequential(len(gains))))


def _n_seeds(summary: dict) -> int:
    return max((int(np.size(v["le_after"])) for v in summary.values() if "le_after" in v), default=0)


def _clip_top(ax, curves: list[np.ndarray]) -> None:
    """Cap the y axis at 30x the median of the curves' medians, so one diverged run does not flatten the rest."""
    if not curves:
        return
    cap = 30 * float(np.median([np.median(c) for c in curves]))
    if max(float(np.max(c)) for c in curves) > cap:
        ax.set_ylim(top=cap)
        ax.text(0.99, 0.01, "y axis clipped", transform=ax.transAxes, ha="right", va="bottom")


def _loss_panel(ax, summary, task, rule, floss, colors, smooth, style="-"):
    """Mean loss (band: ± sd, at least mean/5) of each gain for one (task, rule, flossing); returns the means."""
    plotted = []
    for gain, color in colors.items():
        s = summary.get((task, rule, gain, floss))
        if s is None:
            continue
        mean, sd = _smooth(s["loss_mean"], smooth), _smooth(s["loss_sd"], smooth)
        it = np.arange(1, len(mean) + 1)
        ax.plot(it, mean, style, color=color, lw=1.8 if style == "-" else 1.5)
        plotted.append(mean)
        ax.fill_between(it, np.maximum(mean - sd, mean / 5), mean + sd, color=color, alpha=_BAND_ALPHA, lw=0)
    log_axis(ax, "y")
    ax.set_xlabel("iteration")
    integer_axis(ax, "x")
    return plotted


def _gain_handles(summary: dict, colors: dict, task: str | None = None) -> list:
    """One legend entry per gain (with its learning rate when it is the same for every rule)."""
    handles = []
    for gain, color in colors.items():
        lrs = {v["lr"] for k, v in summary.items() if k[2] == gain and (task is None or k[0] == task)}
        lr = f" (lr {lrs.pop():g})" if len(lrs) == 1 else ""
        handles.append(Line2D([], [], color=color, lw=2, label=f"g = {gain:g}{lr}"))
    return handles


def _smoothing_note(smooth: int) -> str:
    return f"moving average over {smooth} iterations" if smooth > 1 else "not smoothed"


@styled
def plot_gain_loss(summary: dict, task: str, path: str | Path) -> Path:
    """Loss vs iteration of ``task`` per gain, one panel per rule (without flossing)."""
    rules, colors = _rules(summary), _colors(_gains(summary))
    n = max(len(v["loss_mean"]) for k, v in summary.items() if k[0] == task)
    smooth = max(1, n // 50)
    fig = Figure(figsize=(4.2 * len(rules) + 2.2, 4.0), layout="constrained")
    axes = fig.subplots(1, len(rules), sharey=True, squeeze=False)[0]
    for ax, rule in zip(axes, rules):
        _clip_top(ax, _loss_panel(ax, summary, task, rule, False, colors, smooth))
        ax.set_title(RULE_LABELS[rule])
    axes[0].set_ylabel("task loss E (mean over seeds)")
    handles = [*_gain_handles(summary, colors, task),
               shade_handle("± 1 sd over seeds\n(at least mean/5)", "0.3", _BAND_ALPHA * 2)]
    fig.legend(handles=handles, loc="outside right upper", title="initial gain")
    fig.suptitle(f"{task}: loss per initial gain, {_n_seeds(summary)} seeds, {_smoothing_note(smooth)}")
    return save(fig, path, _DPI)


@styled
def plot_gain_lyapunov(summary: dict, path: str | Path) -> Path:
    """Maximal Lyapunov exponent before (first rule's runs) and after training vs gain, one panel per task."""
    tasks, rules, gains = sorted({k[0] for k in summary}), _rules(summary), _gains(summary)
    fig = Figure(figsize=(3.8 * len(tasks) + 2.4, 3.8), layout="constrained")
    axes = fig.subplots(1, len(tasks), sharey=True, squeeze=False)[0]
    for ax, task in zip(axes, tasks):
        for i, rule in enumerate(rules):
            rows = [(g, summary[(task, rule, g, False)]) for g in gains if (task, rule, g, False) in summary]
            if not rows:
                continue
            g = np.array([r[0] for r in rows])
            if i == 0:
                before = np.array([r[1]["le_before"] for r in rows])
                ax.errorbar(g, before.mean(1), before.std(1), fmt="o--", color="0.4", capsize=3,
                            label="before training")
            after = np.array([r[1]["le_after"] for r in rows])
            ax.errorbar(g, after.mean(1), after.std(1), fmt="o-", color=PALETTE[i % len(PALETTE)], capsize=3,
                        label=f"after training, {RULE_LABELS[rule]}")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_title(task)
        ax.set_xlabel("initial gain g")
    axes[0].set_ylabel("max Lyapunov exponent λ₁ (per step)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", title="mean ± sd over seeds")
    fig.suptitle("largest Lyapunov exponent of the network against the initial gain (λ₁ > 0: chaotic)")
    return save(fig, path, _DPI)


@styled
def plot_gain_flossing(summary: dict, path: str | Path) -> Path:
    """e-prop loss with (dashed) and without pre-flossing per gain, one panel per task that flossed."""
    tasks, colors = sorted({k[0] for k in summary}), _colors(_gains(summary))
    flossed = [t for t in tasks if any(k[0] == t and k[3] for k in summary)]
    n = max(len(v["loss_mean"]) for v in summary.values())
    smooth = max(1, n // 50)
    fig = Figure(figsize=(4.2 * len(flossed) + 2.4, 4.0), layout="constrained")
    axes = fig.subplots(1, len(flossed), squeeze=False)[0]
    for ax, task in zip(axes, flossed):
        plotted = _loss_panel(ax, summary, task, "eprop", False, colors, smooth)
        plotted += _loss_panel(ax, summary, task, "eprop", True, colors, smooth, style="--")
        _clip_top(ax, plotted)
        ax.set_title(task)
        ax.set_ylabel("task loss E (mean over seeds)")
    handles = [*_gain_handles(summary, colors),
               Line2D([], [], color="k", lw=1.8, label="without flossing"),
               Line2D([], [], color="k", lw=1.5, ls="--", label="with local pre-flossing"),
               shade_handle("± 1 sd over seeds\n(at least mean/5)", "0.3", _BAND_ALPHA * 2)]
    fig.legend(handles=handles, loc="outside right upper", title="initial gain")
    fig.suptitle(f"e-prop with and without pre-flossing, {_n_seeds(summary)} seeds, {_smoothing_note(smooth)}")
    return save(fig, path, _DPI)
