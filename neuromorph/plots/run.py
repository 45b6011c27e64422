"""PNG figures of a stored run (learning curve, rasters, output, rule state).

Drawn with the conventions of :mod:`neuromorph.plots.style` (Agg canvas, no pyplot). Time axes
are in ms from ``attrs["dt"]`` (seconds); without it they count steps.

The figures follow the e-prop tutorial plots (Bellec et al., Nat. Commun. 11:3625, 2020,
Fig. 3 and the official tutorial code): rasters, output against target, and for one synapse
the pre-term, post-term, eligibility trace and learning signal.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neuromorph.errors import ShapeError
from neuromorph.plots.style import cycle_color, save
from neuromorph.storage import RunRecord, read_run

__all__ = ["RULE_STATE_PANELS", "compare_curves", "plot_curves", "plot_output", "plot_raster", "plot_rule_state", "plot_run"]

#: Rule-state entries drawn by :func:`plot_rule_state`, top to bottom, with their labels.
RULE_STATE_PANELS = (
    ("pre_trace_in", "pre-term"),
    ("post_term", "post-term"),
    ("eligibility", "eligibility"),
    ("learning_signal", "learning signal"),
)
_DPI = 100


def plot_run(path: str | os.PathLike[str]) -> list[Path]:
    """Write the figures of the run at ``path`` next to it and return their paths.

    Writes ``<stem>_curve.png`` always; ``<stem>_raster.png`` when ``last`` has ``spikes``;
    ``<stem>_output.png`` when it has ``output`` and ``target``; ``<stem>_rule_state.png``
    when ``rule_state`` has any of ``pre_trace_in``, ``post_term``, ``learning_signal``,
    ``eligibility``.

    Raises
    ------
    StorageError
        ``path`` is not a readable run (see :func:`neuromorph.storage.read_run`).
    ShapeError
        A recorded array lacks its time and batch axes.
    """
    path = Path(path)
    record = read_run(path)
    base = path.with_name(path.stem)
    written = [plot_curves(record, Path(f"{base}_curve.png"))]
    if "spikes" in record.last:
        written.append(plot_raster(record, Path(f"{base}_raster.png")))
    if "output" in record.last and "target" in record.last:
        written.append(plot_output(record, Path(f"{base}_output.png")))
    if any(name in record.rule_state for name, _ in RULE_STATE_PANELS):
        written.append(plot_rule_state(record, Path(f"{base}_rule_state.png")))
    return written


def compare_curves(runs: dict[str, str | os.PathLike[str]], out: str | os.PathLike[str], curve: str = "loss") -> Path:
    """One figure with the ``curve`` of several runs, labelled by the keys of ``runs``."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, path in runs.items():
        values = read_run(path).curves[curve]
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(curve)
    ax.legend()
    fig.tight_layout()
    return save(fig, out, _DPI)


# -- helpers ------------------------------------------------------------------------------------


def _time_axis(record: RunRecord, n_steps: int) -> tuple[np.ndarray, str]:
    dt = record.attrs.get("dt")
    if isinstance(dt, (int, float)) and not isinstance(dt, bool) and dt > 0:
        return np.arange(n_steps) * float(dt) * 1e3, "time (ms)"
    return np.arange(n_steps, dtype=float), "time step"


def _first_trial(record: RunRecord, name: str) -> np.ndarray:
    """``last[name][:, 0]``: batch element 0 of a time-major (T, B, ...) array."""
    array = np.asarray(record.last[name])
    if array.ndim < 2:
        raise ShapeError(f"last[{name!r}] has shape {array.shape}; expected time-major (T, B, ...)")
    return array[:, 0]


def _draw_raster(ax: Axes, activity: np.ndarray, t: np.ndarray, label: str) -> None:
    """Spikes as ticks if ``activity`` (T, N) is 0/1, else a heat map."""
    activity = activity.reshape(activity.shape[0], -1)
    if np.isin(activity, (0, 1)).all():
        steps, units = np.nonzero(activity)
        size = float(np.clip(150.0 / max(activity.shape[1], 1), 1.5, 6.0))
        ax.plot(t[steps], units, "|", color="k", markersize=size, markeredgewidth=0.6)
        ax.set_ylim(-0.5, activity.shape[1] - 0.5)
    else:
        extent = (t[0], t[-1] if t.size > 1 else t[0] + 1, -0.5, activity.shape[1] - 0.5)
        ax.imshow(activity.T, aspect="auto", origin="lower", extent=extent, cmap="viridis")
    ax.set_xlim(t[0], t[-1] if t.size > 1 else t[0] + 1)
    ax.set_ylabel(label)


def _shade_mask(ax: Axes, mask: np.ndarray, t: np.ndarray) -> None:
    """Shade each contiguous run of ``mask > 0``."""
    on = np.concatenate(([False], mask > 0, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    step = t[1] - t[0] if t.size > 1 else 1.0
    for start, stop in zip(edges[::2], edges[1::2]):
        ax.axvspan(t[start], t[stop - 1] + step, color="tab:green", alpha=0.12, lw=0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    expo = np.exp(shifted)
    return expo / expo.sum(axis=-1, keepdims=True)


def _is_classification(record: RunRecord, target: np.ndarray) -> bool:
    return record.attrs.get("loss") == "classification" or (
        np.issubdtype(target.dtype, np.integer) and target.ndim == 1
    )


# -- figures ------------------------------------------------------------------------------------


def plot_curves(record: RunRecord, out: Path) -> Path:
    """Loss per iteration (log y-axis when positive); accuracy on a twin axis if recorded."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    loss = np.asarray(record.curves["loss"], dtype=float).ravel()
    iterations = np.arange(1, loss.size + 1)
    ax.plot(iterations, loss, color="tab:blue", label="loss")
    if loss.size and np.all(np.isfinite(loss)) and np.all(loss > 0):
        ax.set_yscale("log")
    if loss.size == 0:
        ax.text(0.5, 0.5, "no iterations yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss", color="tab:blue")
    if "accuracy" in record.curves:
        accuracy = np.asarray(record.curves["accuracy"], dtype=float).ravel()
        twin = ax.twinx()
        twin.plot(np.arange(1, accuracy.size + 1), accuracy, color="tab:orange")
        twin.set_ylabel("accuracy", color="tab:orange")
        twin.set_ylim(0.0, 1.05)
    ax.set_title(f"{record.status}, {record.iteration} iterations")
    fig.tight_layout()
    return save(fig, out, _DPI)


def plot_raster(record: RunRecord, out: Path) -> Path:
    """Input raster (top, if recorded) and network spikes (bottom) of trial 0, last iteration."""
    spikes = _first_trial(record, "spikes")
    t, t_label = _time_axis(record, spikes.shape[0])
    has_inputs = "inputs" in record.last
    fig = Figure(figsize=(8, 5 if has_inputs else 3))
    axes = fig.subplots(2 if has_inputs else 1, 1, sharex=True, squeeze=False)[:, 0]
    if has_inputs:
        _draw_raster(axes[0], _first_trial(record, "inputs"), t, "input")
    _draw_raster(axes[-1], spikes, t, "neuron")
    axes[-1].set_xlabel(t_label)
    axes[0].set_title("last iteration, trial 0")
    fig.tight_layout()
    return save(fig, out, _DPI)


def plot_output(record: RunRecord, out: Path) -> Path:
    """Output against target for trial 0; mask shaded. Classification: softmax per class."""
    output = _first_trial(record, "output")
    output = output.reshape(output.shape[0], -1)
    target = _first_trial(record, "target")
    t, t_label = _time_axis(record, output.shape[0])
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    if "mask" in record.last:
        _shade_mask(ax, _first_trial(record, "mask").reshape(output.shape[0], -1)[:, 0], t)
    colors = [cycle_color(k) for k in range(output.shape[1])]
    if _is_classification(record, target):
        probs = _softmax(output)
        for k, color in enumerate(colors):
            ax.plot(t, probs[:, k], color=color, label=f"p(class {k})")
            ax.plot(t, (target.reshape(-1) == k).astype(float), "--", color=color, alpha=0.6)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("softmax (dashed: target class)")
    else:
        target = target.reshape(target.shape[0], -1)
        for k, color in enumerate(colors):
            ax.plot(t, output[:, k], color=color, label=f"output {k}")
            ax.plot(t, target[:, k], "--", color=color, alpha=0.7, label=f"target {k}")
        ax.set_ylabel("output (dashed: target)")
    ax.set_xlim(t[0], t[-1] if t.size > 1 else t[0] + 1)
    ax.set_xlabel(t_label)
    ax.legend(loc="upper right", fontsize=7, ncol=2)
    fig.tight_layout()
    return save(fig, out, _DPI)


def _strongest(trace: np.ndarray) -> int:
    """Column of a (T, M) trace with the largest L1 norm (a representative unit)."""
    return int(np.argmax(np.abs(trace.reshape(trace.shape[0], -1)).sum(axis=0)))


def _representative(state: dict[str, np.ndarray]) -> tuple[int, int]:
    """Post neuron j (strongest post-term, else learning signal) and input i (strongest pre)."""
    post_source = state.get("post_term", state.get("learning_signal"))
    j = _strongest(post_source) if post_source is not None else 0
    i = _strongest(state["pre_trace_in"]) if "pre_trace_in" in state else 0
    return j, i


def _series(name: str, trace: np.ndarray, j: int, i: int) -> tuple[np.ndarray, str]:
    """The trace of synapse (j, i) / neuron j / input i; else its strongest column."""
    trace = np.asarray(trace, dtype=float)
    if trace.ndim == 1:
        return trace, ""
    if name == "eligibility" and trace.ndim == 3 and trace.shape[1] > j and trace.shape[2] > i:
        return trace[:, j, i], f"synapse ({j}<-{i})"
    unit = i if name == "pre_trace_in" else j
    flat = trace.reshape(trace.shape[0], -1)
    if name != "eligibility" and unit < flat.shape[1]:
        return flat[:, unit], f"{'input' if name == 'pre_trace_in' else 'neuron'} {unit}"
    column = _strongest(flat)
    return flat[:, column], f"column {column}"


def plot_rule_state(record: RunRecord, out: Path) -> Path:
    """One panel per recorded rule-state entry, for one representative synapse ``j <- i``.

    ``j`` is the neuron with the largest summed |post-term| (else |learning signal|) and ``i``
    the input with the largest summed pre-trace. ``eligibility`` is read as
    (T, N_post, n_pre) (rows = postsynaptic neuron) or (T, N) for per-neuron rules (biases).
    """
    present = [(name, label) for name, label in RULE_STATE_PANELS if name in record.rule_state]
    j, i = _representative(record.rule_state)
    n_steps = np.asarray(record.rule_state[present[0][0]]).shape[0]
    t, t_label = _time_axis(record, n_steps)
    fig = Figure(figsize=(8, 1.8 * len(present) + 0.6))
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, label) in zip(axes, present):
        series, where = _series(name, record.rule_state[name], j, i)
        ax.plot(t[: series.shape[0]], series, lw=0.9)
        ax.set_ylabel(label, fontsize=8)
        ax.set_title(where, fontsize=7, loc="right")
    axes[-1].set_xlabel(t_label)
    fig.tight_layout()
    return save(fig, out, _DPI)
