"""Figures and a summary of a gain sweep (``neuromorph sweep-report DIR``).

For every (task, rule, gain, flossing) the learning rate is picked as in the study (THEORY.md
§4.1): the one with the lowest mean final loss over seeds, the final loss being the mean over
the last 10 % of iterations. Figures (written into DIR):

* ``gain_loss_<task>.png``: loss vs iteration per gain, mean ± sd over seeds, BPTT and e-prop
  (no flossing) side by side;
* ``gain_lyapunov.png``: maximal Lyapunov exponent before and after training vs gain, per task
  and rule (mean ± sd over seeds);
* ``gain_flossing.png``: e-prop loss with and without local pre-flossing, per gain and task.

``summary.json`` holds the numbers behind them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neuromorph.errors import ConfigError
from neuromorph.sweep.run import curves, read_results

__all__ = ["summarise", "sweep_report"]

RULE_LABELS = {"bptt": "BPTT", "eprop": "e-prop", "eprop_1step": "e-prop (1-step)", "rflo": "RFLO"}


def _final(loss: np.ndarray) -> float:
    return float(np.mean(loss[-max(1, len(loss) // 10):]))


def summarise(out_dir: str | Path) -> dict:
    """Group the complete runs by (task, rule, gain, flossing), pick the best lr, and collect curves and LEs."""
    results = read_results(out_dir)
    groups: dict[tuple, dict[float, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for record in results.values():
        if record.get("status") != "complete":
            continue
        p = record["point"]
        record = {**record, "loss": curves(out_dir, record)["loss"]}
        groups[(p["task"], p["rule"], p["gain"], p["flossing"])][p["lr"]].append(record)
    if not groups:
        raise ConfigError(f"{out_dir} has no complete runs to report")
    summary = {}
    for key, by_lr in sorted(groups.items()):
        best_lr = min(by_lr, key=lambda lr: np.mean([_final(r["loss"]) for r in by_lr[lr]]))
        runs = sorted(by_lr[best_lr], key=lambda r: r["point"]["seed"])
        n = min(len(r["loss"]) for r in runs)
        loss = np.stack([r["loss"][:n] for r in runs])
        summary[key] = {
            "lr": best_lr,
            "seeds": [r["point"]["seed"] for r in runs],
            "loss_mean": loss.mean(0),
            "loss_sd": loss.std(0),
            "final_loss": [_final(r["loss"]) for r in runs],
            "le_before": [r["lyapunov_before"][0] for r in runs],
            "le_after": [r["lyapunov_after"][0] for r in runs],
            "le_flossed": [r["lyapunov_flossed"][0] for r in runs if "lyapunov_flossed" in r],
        }
    return summary


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(y) < width:
        return y
    kernel = np.ones(width) / width
    return np.convolve(np.pad(y, (width - 1, 0), mode="edge"), kernel, mode="valid")


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


def _colors(gains: list[float]):
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


def sweep_report(out_dir: str | Path) -> list[Path]:
    """Write the figures and ``summary.json`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    summary = summarise(out_dir)
    tasks = sorted({k[0] for k in summary})
    rules = [r for r in RULE_LABELS if any(k[1] == r for k in summary)]
    gains = sorted({k[2] for k in summary})
    colors = _colors(gains)
    written = []
    for task in tasks:
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
        written.append(_save(fig, out_dir / f"gain_loss_{task}.png"))
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
    written.append(_save(fig, out_dir / "gain_lyapunov.png"))
    flossed = [t for t in tasks if any(k[0] == t and k[3] for k in summary)]
    if flossed:
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
        written.append(_save(fig, out_dir / "gain_flossing.png"))
    table = {
        "/".join(map(str, k)): {
            "lr": v["lr"], "seeds": v["seeds"], "final_loss_mean": float(np.mean(v["final_loss"])),
            "final_loss_sd": float(np.std(v["final_loss"])), "le_max_before": float(np.mean(v["le_before"])),
            "le_max_after": float(np.mean(v["le_after"])),
            **({"le_max_flossed": float(np.mean(v["le_flossed"]))} if v["le_flossed"] else {}),
        }
        for k, v in summary.items()
    }
    path = out_dir / "summary.json"
    path.write_text(json.dumps(table, indent=1))
    written.append(path)
    return written
