"""Figures of bias-learning studies (``neuromorph bias``): accuracy against width, success against
the recurrent gain, Jacobian spectra before and after learning, and Lorenz forecasts.

Each function takes the summary tree of the bias study (``neuromorph.bias.run``) (as written to and read back
from ``summary.h5``) and writes PNG files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuromorph.plots.style import PALETTE, integer_axis, log_axis, save, shade_handle, styled

__all__ = ["plot_gain", "plot_lorenz", "plot_multitask", "plot_study"]

_DPI = 100
LABELS = {"bias": "bias only", "full": "fully trained", "readout": "readout only"}
COLORS = {"bias": PALETTE[0], "full": PALETTE[1], "readout": PALETTE[2]}
_BAND_ALPHA = 0.2


def _save(fig: Figure, path: Path) -> Path:
    return save(fig, path, _DPI)


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


@styled
def plot_multitask(tree: dict, out: Path) -> list[Path]:
    """Accuracy against hidden width and against trained parameters; per-task bars at the largest width."""
    acc, modes, widths = tree["accuracy"], _names(tree["modes"]), np.asarray(tree["widths"])
    variants = _names(tree["variants"])
    per_task = acc.mean(axis=3)  # (variant, mode, width)
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for j, mode in enumerate(modes):
        mean = per_task[:, j].mean(0)
        ax1.plot(widths, mean, marker="o", color=COLORS[mode], label=LABELS[mode])
        ax1.fill_between(widths, per_task[:, j].min(0), per_task[:, j].max(0), color=COLORS[mode], alpha=_BAND_ALPHA)
        ax2.plot(tree["trained_parameters"][j], mean, marker="o", color=COLORS[mode], label=LABELS[mode])
    for ax in (ax1, ax2, ax3):
        ax.axhline(0.1, color="0.45", ls=":", lw=1.2, label="chance (10 classes)")
        ax.set_ylabel("held-out accuracy (mean over tasks)" if ax is not ax3 else "held-out accuracy")
        ax.set_ylim(0, 1.02)
    for ax in (ax1, ax2):
        log_axis(ax, "x")
    ax1.set_xlabel("hidden width (neurons)")
    ax1.set_title(f"{len(variants)} digit tasks, one random network")
    ax2.set_xlabel("trained parameters per task")
    ax2.set_title("accuracy per trained parameter")
    x = np.arange(len(variants))
    bar = 0.8 / len(modes)
    for j, mode in enumerate(modes):
        ax3.bar(x + (j - (len(modes) - 1) / 2) * bar, per_task[:, j, -1], bar, color=COLORS[mode], label=LABELS[mode])
    ax3.set_xticks(x, variants, rotation=30, ha="right")
    ax3.set_xlabel("task (digit variant)")
    ax3.grid(False, axis="x")
    handles, _ = ax1.get_legend_handles_labels()
    fig.legend(handles=[*handles, shade_handle("min-max over tasks (left panel)", "0.4", _BAND_ALPHA)],
               loc="outside lower center", ncol=len(handles) + 1)
    ax3.set_title(f"per task, width {widths[-1]}")
    return [_save(fig, out / "multitask_accuracy.png")]


@styled
def plot_gain(tree: dict, out: Path) -> list[Path]:
    """Free-running error against gain, example trajectories, and Jacobian spectra."""
    err, modes, gains = tree["nmse"], _names(tree["modes"]), np.asarray(tree["gains"])
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    beyond = tree["nmse_beyond"]
    for j, mode in enumerate(modes):
        ax1.plot(gains, np.median(err[j], axis=1), marker="o", color=COLORS[mode], label=LABELS[mode])
        ax1.plot(gains, np.median(beyond[j], axis=1), marker="x", ls=":", color=COLORS[mode],
                 label=f"{LABELS[mode]}, beyond the horizon")
        for k, g in enumerate(gains):
            ax1.scatter(np.full(err.shape[2], g), err[j, k], color=COLORS[mode], s=12, alpha=0.5)
    ax1.axhline(tree["success_nmse"], color="k", ls="--", lw=1, label="success threshold")
    log_axis(ax1, "y")
    ax1.set_xlabel("recurrent gain g")
    ax1.set_ylabel("free-running NMSE (median over seeds)")
    ax1.set_title(f"generation against gain (trained horizon {tree['train_steps']} steps; dots: seeds)", fontsize=9.5)
    ax1.legend()
    examples = tree["examples"]
    for ax, g in ((ax2, gains[0]), (ax3, gains[-1])):
        key = f"bias_g{g:g}"
        if key not in examples:
            continue
        y, target = examples[key]["y"], examples[key]["target"]
        ax.plot(target[:, 0], target[:, 1], color="k", lw=2.4, alpha=0.6, label="target")
        ax.plot(y[:, 0], y[:, 1], color=COLORS["bias"], lw=1.3, label="bias only")
        ax.set_title(f"g = {g:g}: phase portrait of the readout")
        ax.set_xlabel("readout y₁ (a.u.)")
        ax.set_ylabel("readout y₂ (a.u.)")
        ax.legend(loc="upper right")
    paths = [_save(fig, out / "gain_success.png")]
    spectra = tree["jacobian"]
    if spectra:
        keys = sorted(spectra, key=lambda k: float(k.split("_g")[1]))
        fig = Figure(figsize=(4.4 * len(keys), 4.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(keys)))
        circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
        for ax, key in zip(axes, keys):
            s = spectra[key]
            ax.scatter(s["before"].real, s["before"].imag, s=10, color="0.5", label="before (b = 0)")
            ax.scatter(s["after"].real, s["after"].imag, s=10, color=COLORS["bias"], label="after bias learning")
            ax.plot(circle.real, circle.imag, color="0.45", lw=1, ls=":", label="unit circle")
            ax.axvline(1.0, color="k", ls="--", lw=1, label="Re λ = 1")
            ax.set_aspect("equal")
            ax.set_title(f"g = {key.split('_g')[1]}")
            ax.set_xlabel("Re λ")
            ax.set_ylabel("Im λ")
            ax.legend(loc="lower left")
        fig.suptitle("eigenvalues λ of the Jacobian W diag(φ'(u*)) at the fixed point u*; "
                     "unstable to the right of Re λ = 1")
        paths.append(_save(fig, out / "gain_jacobian.png"))
    return paths


@styled
def plot_lorenz(tree: dict, out: Path) -> list[Path]:
    """Target, teacher-forced and closed-loop forecasts per mode."""
    modes, traces, warmup = _names(tree["modes"]), tree["traces"], int(tree["warmup"])
    fig = Figure(figsize=(12, 2.6 * len(modes) + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(modes), 1, sharex=True))
    for ax, j, mode in zip(axes, range(len(modes)), modes):
        r = traces[mode]
        ax.plot(r["target"], color="k", lw=2.4, alpha=0.6, label=f"target x(t + {int(tree['lag'])})")
        ax.plot(r["teacher_forced"], color=COLORS[mode], lw=1,
                label=f"teacher-forced (NMSE {np.median(tree['teacher_forced_nmse'][j]):.3f})")
        ax.plot(r["closed_loop"], color=PALETTE[3], lw=1.4, ls="--",
                label=f"closed loop (NMSE {np.median(tree['closed_loop_nmse'][j]):.3f})")
        ax.axvline(warmup, color="0.45", ls=":", lw=1.2, label="closed loop starts")
        ax.set_ylabel("x (a.u.)")
        ax.set_title(LABELS[mode], loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1].set_xlabel("step")
    integer_axis(axes[-1], "x")
    fig.suptitle("Lorenz forecast per trained part (NMSE: median over seeds)")
    return [_save(fig, out / "lorenz_forecast.png")]


def plot_study(kind: str, tree: dict, out: str | Path) -> list[Path]:
    """The figures of one study kind, written into ``out``."""
    return {"multitask": plot_multitask, "gain": plot_gain, "lorenz": plot_lorenz}[kind](tree, Path(out))
