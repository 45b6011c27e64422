"""PNG figures of a stored run (learning curve, rasters, output, rule state).

Drawn in the shared style of :mod:`neuromorph.plots.style` (Agg canvas, no pyplot). Time axes
are in ms from ``attrs["dt"]`` (seconds); without it they count steps. The figures read the run
file only: its arrays, its attributes and the resolved card it stores (``config_toml``) for the
names and constants they print.

The figures follow the e-prop tutorial plots (Bellec et al., Nat. Commun. 11:3625, 2020,
Fig. 3 and the official tutorial code): rasters, output against target, and for one synapse
the pre trace, post term, learning signal, filtered eligibility and weight change.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neuromorph.errors import ShapeError
from neuromorph.plots.style import (
    PALETTE,
    cycle_color,
    integer_axis,
    log_axis,
    overlap_styles,
    save,
    shade_handle,
    styled,
)
from neuromorph.storage import RunRecord, read_run

__all__ = ["RULE_STATE_PANELS", "compare_curves", "loss_definition", "plot_curves", "plot_output", "plot_raster",
           "plot_rule_state", "plot_run", "synapse_terms"]

#: Stored rule-state entries :func:`plot_rule_state` draws (top to bottom) with their panel labels;
#: the filtered eligibility and the weight change follow, computed by :func:`synapse_terms` when not stored.
RULE_STATE_PANELS = (
    ("pre_trace_in", "pre trace P_i"),
    ("post_term", "post term ψ_j"),
    ("learning_signal", "learning signal L_j"),
    ("eligibility", "filtered eligibility ē_ji"),
)
_DPI = 100
_MASK = {"color": PALETTE[2], "alpha": 0.15}
_RULE_NAMES = {"eprop": "e-prop", "bptt": "BPTT", "rflo": "RFLO", "reward_eprop": "reward e-prop"}


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


def loss_definition(kind: str | None) -> str:
    """The loss a run's curve holds (:func:`neuromorph.plasticity.losses.loss_value`), in one line.

    ``kind`` is the run's ``attrs["loss"]``: ``"regression"``, ``"classification"`` or unknown.
    """
    if kind == "regression":
        return "E = ½ Σ_t m_t ‖y_t − y*_t‖² per trial (m_t: loss mask), mean over the batch"
    if kind == "classification":
        return "E = −Σ_t m_t log softmax(y_t)[y*] per trial (m_t: loss mask), mean over the batch"
    return "loss E per iteration, as stored in the run"


_CURVE_LABELS = {"loss": "task loss E", "rate_hz": "firing rate (Hz)", "accuracy": "accuracy (fraction)",
                 "spike_count": "spikes per batch"}


@styled
def compare_curves(runs: dict[str, str | os.PathLike[str]], out: str | os.PathLike[str], curve: str = "loss",
                   title: str | None = None) -> Path:
    """One figure with the ``curve`` of several runs, labelled by the keys of ``runs``; ``title`` above it.

    The runs may compute the same numbers (two backends in float64): the first is drawn wide and
    solid, the next dashed and dotted with staggered markers on top (:func:`~neuromorph.plots.style.overlap_styles`),
    so every curve stays visible where they coincide.
    """
    records = {label: read_run(path) for label, path in runs.items()}
    n_points = max((len(r.curves[curve]) for r in records.values()), default=0)
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    positive = True
    for (label, record), style in zip(records.items(), overlap_styles(len(records), n_points)):
        values = np.asarray(record.curves[curve], dtype=float).ravel()
        positive &= bool(values.size) and bool(np.all(values > 0))
        ax.plot(np.arange(1, len(values) + 1), values, label=label, **style)
    if positive and curve != "accuracy":
        log_axis(ax, "y")
    ax.set_xlabel("iteration")
    integer_axis(ax, "x")
    ax.set_ylabel(_CURVE_LABELS.get(curve, curve))
    if curve == "loss":
        kinds = {r.attrs.get("loss") for r in records.values()}
        ax.set_title(loss_definition(kinds.pop() if len(kinds) == 1 else None), fontsize=9, loc="left")
    if title:
        fig.suptitle(title)
    ax.legend()
    return save(fig, out, _DPI)


# -- helpers ------------------------------------------------------------------------------------


def _card(record: RunRecord) -> dict[str, Any]:
    """The resolved card stored in the run (``{}`` when it is absent or not TOML)."""
    try:
        return tomllib.loads(record.config_toml or "")
    except tomllib.TOMLDecodeError:
        return {}


def _section(card: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        card = card.get(key, {}) if isinstance(card, dict) else {}
    return card if isinstance(card, dict) else {}


def _title(record: RunRecord) -> str:
    """``"e-prop on sine: complete after 20 iterations"`` from the stored card and attributes."""
    card = _card(record)
    rule = _RULE_NAMES.get(str(record.attrs.get("rule", _section(card, "rule").get("name", ""))), "")
    rule = rule or str(record.attrs.get("rule", _section(card, "rule").get("name", "")))
    task = _section(card, "task").get("name", "")
    what = " on ".join(part for part in (rule, str(task)) if part)
    done = f"{record.status} after {record.iteration} iteration{'s' if record.iteration != 1 else ''}"
    return f"{what}: {done}" if what else done


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
    """Spikes as ticks if ``activity`` (T, N) is 0/1, else a heat map with a colour bar."""
    activity = activity.reshape(activity.shape[0], -1)
    if np.isin(activity, (0, 1)).all():
        steps, units = np.nonzero(activity)
        size = float(np.clip(150.0 / max(activity.shape[1], 1), 1.5, 6.0))
        ax.plot(t[steps], units, "|", color="k", markersize=size, markeredgewidth=0.8)
        ax.set_ylim(-0.5, activity.shape[1] - 0.5)
    else:
        extent = (t[0], t[-1] if t.size > 1 else t[0] + 1, -0.5, activity.shape[1] - 0.5)
        image = ax.imshow(activity.T, aspect="auto", origin="lower", extent=extent, cmap="viridis")
        ax.figure.colorbar(image, ax=ax, label="activity (a.u.)", pad=0.01)
    ax.set_xlim(t[0], t[-1] if t.size > 1 else t[0] + 1)
    ax.grid(False)
    integer_axis(ax, "y")
    ax.set_ylabel(label)


def _shade_mask(ax: Axes, mask: np.ndarray, t: np.ndarray) -> bool:
    """Shade each contiguous run of ``mask > 0``; True when anything was shaded."""
    on = np.concatenate(([False], mask > 0, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    step = t[1] - t[0] if t.size > 1 else 1.0
    for start, stop in zip(edges[::2], edges[1::2]):
        ax.axvspan(t[start], t[stop - 1] + step, lw=0, **_MASK)
    return bool(edges.size)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    expo = np.exp(shifted)
    return expo / expo.sum(axis=-1, keepdims=True)


def _is_classification(record: RunRecord, target: np.ndarray) -> bool:
    return record.attrs.get("loss") == "classification" or (
        np.issubdtype(target.dtype, np.integer) and target.ndim == 1
    )


# -- figures ------------------------------------------------------------------------------------


@styled
def plot_curves(record: RunRecord, out: Path) -> Path:
    """Learning curve: the task loss per iteration (log axis when positive, its definition above it),
    accuracy when recorded, and the mean firing rate in Hz (``curves["rate_hz"]``) with the rate
    regulariser's target when the card sets one. The title names the rule, the task and the status."""
    curves = record.curves
    loss = np.asarray(curves["loss"], dtype=float).ravel()
    panels = ["loss", *(["accuracy"] if "accuracy" in curves else []), *(["rate_hz"] if "rate_hz" in curves else [])]
    fig = Figure(figsize=(7, 1.2 + 2.3 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    many = max(loss.size, 1) > 40
    marker = {} if many else {"marker": "o", "markersize": 3.5}
    for ax, name in zip(axes, panels):
        values = np.asarray(curves[name], dtype=float).ravel()
        ax.plot(np.arange(1, values.size + 1), values, color=PALETTE[{"loss": 0, "accuracy": 1}.get(name, 2)],
                label=_CURVE_LABELS[name], **marker)
        ax.set_ylabel(_CURVE_LABELS[name])
    ax_loss = axes[0]
    if loss.size and np.all(np.isfinite(loss)) and np.all(loss > 0):
        log_axis(ax_loss, "y")
    if loss.size == 0:
        ax_loss.text(0.5, 0.5, "no iterations yet", ha="center", va="center", transform=ax_loss.transAxes)
    regulariser = "\nthe firing-rate regulariser is not included" if "rate_hz" in curves else ""
    ax_loss.set_title(loss_definition(record.attrs.get("loss")) + regulariser, fontsize=9, loc="left")
    if "accuracy" in panels:
        axes[panels.index("accuracy")].set_ylim(0.0, 1.05)
    if "rate_hz" in panels:
        ax_rate = axes[panels.index("rate_hz")]
        reg = _section(_card(record), "rule", "regularization")
        if float(reg.get("strength", 0.0) or 0.0) > 0 and "target_hz" in reg:
            ax_rate.axhline(float(reg["target_hz"]), color="k", ls="--", lw=1.2,
                            label=f"regulariser target {float(reg['target_hz']):g} Hz")
            top = max(float(np.nanmax(curves["rate_hz"], initial=0.0)), float(reg["target_hz"]))
            ax_rate.set_ylim(0.0, 1.15 * top if top > 0 else 1.0)
        else:
            ax_rate.set_ylim(bottom=0.0)
        ax_rate.set_title("mean over neurons, steps and trials of each batch", fontsize=9, loc="left")
        ax_rate.legend(loc="best")
    axes[-1].set_xlabel("iteration")
    integer_axis(axes[-1], "x")
    if loss.size:
        axes[-1].set_xlim(0.5, loss.size + 0.5)
    fig.suptitle(_title(record))
    return save(fig, out, _DPI)


@styled
def plot_raster(record: RunRecord, out: Path) -> Path:
    """Input raster (top, if recorded) and network spikes (bottom) of trial 0, last iteration."""
    spikes = _first_trial(record, "spikes")
    t, t_label = _time_axis(record, spikes.shape[0])
    has_inputs = "inputs" in record.last
    fig = Figure(figsize=(8, 5 if has_inputs else 3), layout="constrained")
    axes = fig.subplots(2 if has_inputs else 1, 1, sharex=True, squeeze=False)[:, 0]
    if has_inputs:
        _draw_raster(axes[0], _first_trial(record, "inputs"), t, "input channel")
        axes[0].set_title("inputs", loc="left")
    _draw_raster(axes[-1], spikes, t, "neuron")
    axes[-1].set_title("network spikes", loc="left")
    axes[-1].set_xlabel(t_label)
    fig.suptitle(f"{_title(record)}; last recorded iteration, trial 0")
    return save(fig, out, _DPI)


@styled
def plot_output(record: RunRecord, out: Path) -> Path:
    """Output against target for trial 0 (target dashed under the solid output); the loss mask shaded
    and named in the legend. Classification: softmax probability per class against the target class."""
    output = _first_trial(record, "output")
    output = output.reshape(output.shape[0], -1)
    target = _first_trial(record, "target")
    t, t_label = _time_axis(record, output.shape[0])
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    ax = fig.add_subplot()
    handles: list[Any] = []
    if "mask" in record.last and _shade_mask(ax, _first_trial(record, "mask").reshape(output.shape[0], -1)[:, 0], t):
        handles.append(shade_handle("loss mask (steps in E)", **_MASK))
    one = output.shape[1] == 1
    colors = [cycle_color(k) for k in range(output.shape[1])]
    if _is_classification(record, target):
        probs = _softmax(output)
        for k, color in enumerate(colors):
            ax.plot(t, (target.reshape(-1) == k).astype(float), "--", color=color, lw=2.2, alpha=0.8,
                    label=f"target is class {k}")
            ax.plot(t, probs[:, k], color=color, lw=1.4, label=f"p(class {k})")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("softmax probability")
    else:
        target = target.reshape(target.shape[0], -1)
        for k, color in enumerate(colors):
            name = "" if one else f" {k}"
            ax.plot(t, target[:, k], "--", color="k" if one else color, lw=2.2, alpha=0.8, label=f"target y*{name}")
            ax.plot(t, output[:, k], color=color, lw=1.4, label=f"output y{name}")
        ax.set_ylabel("readout y (a.u.)")
    ax.set_xlim(t[0], t[-1] if t.size > 1 else t[0] + 1)
    ax.set_xlabel(t_label)
    line_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*line_handles, *handles], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              ncol=1 if len(line_handles) + len(handles) <= 8 else 2)
    ax.set_title(f"{_title(record)}; last recorded iteration, trial 0", loc="left")
    return save(fig, out, _DPI)


# -- rule state -----------------------------------------------------------------------------------


class SynapseTerms(NamedTuple):
    """The e-prop terms of one synapse ``j <- i`` over the steps of trial 0 (see :func:`synapse_terms`)."""

    eligibility: np.ndarray  #: e_ji^t
    filtered: np.ndarray  #: ē_ji^t
    delta_w: np.ndarray | None  #: cumulative -η Σ_{t' <= t} L_j ē_ji (None without L)


def synapse_terms(
    pre: np.ndarray,
    psi: np.ndarray,
    learning: np.ndarray | None,
    *,
    kappa: float,
    s_out: float,
    lr: float = 1.0,
    rho: float | None = None,
    beta: float = 0.0,
) -> SynapseTerms:
    r"""Eligibility, filtered eligibility and weight change of one synapse from its stored factors.

    ``pre`` is the presynaptic trace :math:`P_i^t`, ``psi`` the post term :math:`\psi_j^t`,
    ``learning`` the learning signal :math:`L_j^t` (each of shape (T,)). With the same filters as
    :mod:`neuromorph.plasticity.eprop_online`:

    .. math::

        e_{ji}^t &= \psi_j^t (P_i^t - \beta_j \epsilon^{a,t}_{ji}), \qquad
        \epsilon^{a,t+1}_{ji} = \psi_j^t P_i^t + (\rho - \beta_j \psi_j^t)\, \epsilon^{a,t}_{ji}
        \quad (\text{ALIF; } \beta_j = 0 \text{ for LIF}) \\
        \bar e_{ji}^t &= \kappa\, \bar e_{ji}^{t-1} + s_\mathrm{out}\, e_{ji}^t, \qquad
        \Delta W_{ji}(t) = -\eta \sum_{t' \le t} L_j^{t'} \bar e_{ji}^{t'}

    (Bellec et al., Nat. Commun. 11:3625, 2020: eligibility of LIF and ALIF neurons, Methods
    eqs. 23 and 25-27; the κ-filtered eligibility and the e-prop update, eqs. 13-14). κ is the
    readout decay :math:`e^{-\Delta t/\tau_\mathrm{out}}`, :math:`s_\mathrm{out}` its drive scale
    (:class:`neuromorph.dynamics.ReadoutParameters`). ``delta_w`` is the update of trial 0 as plain
    SGD with learning rate ``lr`` would apply it, without the firing-rate regulariser's term
    (an optimiser such as Adam rescales it).
    """
    pre, psi = np.asarray(pre, dtype=float), np.asarray(psi, dtype=float)
    e = np.empty_like(psi)
    ebar = np.empty_like(psi)
    eps_a, filtered = 0.0, 0.0
    for t in range(psi.shape[0]):
        e[t] = psi[t] * (pre[t] - beta * eps_a) if rho is not None else psi[t] * pre[t]
        if rho is not None:
            eps_a = psi[t] * pre[t] + (rho - beta * psi[t]) * eps_a
        filtered = kappa * filtered + s_out * e[t]
        ebar[t] = filtered
    delta_w = None if learning is None else -lr * np.cumsum(np.asarray(learning, dtype=float)[: ebar.size] * ebar)
    return SynapseTerms(e, ebar, delta_w)


class _Constants(NamedTuple):
    kappa: float
    s_out: float
    lr: float | None
    rho: float | None
    beta: np.ndarray | float
    rate_unit: bool
    activation: str


def _constants(record: RunRecord) -> _Constants | None:
    """κ, s_out, η and the ALIF constants from the stored card (None when it lacks the network)."""
    card = _card(record)
    net = _section(card, "network")
    if not net:
        return None
    dt = float(net.get("dt", _section(card, "task").get("dt", record.attrs.get("dt", 1e-3))))
    readout = _section(net, "readout")
    tau_out = float(readout.get("tau_out", 20e-3))  # the defaults of ReadoutParameters
    kappa = math.exp(-dt / tau_out) if tau_out > 0 else 0.0
    s_out = 1.0 - kappa if readout.get("output_scaling", False) else 1.0
    neuron = _section(net, "neuron")
    rho, beta = None, 0.0
    if neuron.get("model") == "alif":
        rho = math.exp(-dt / float(neuron.get("tau_adapt", 2.0)))
        beta = np.asarray(neuron.get("beta", 0.07), dtype=float)
    lr = _section(card, "optimizer").get("lr")
    return _Constants(kappa, s_out, None if lr is None else float(lr), rho, beta, neuron.get("model") == "rate",
                      str(neuron.get("activation", "")))


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
        return trace[:, j, i], f"synapse j = {j} ← input i = {i}"
    unit = i if name == "pre_trace_in" else j
    flat = trace.reshape(trace.shape[0], -1)
    if name != "eligibility" and unit < flat.shape[1]:
        return flat[:, unit], f"{'input i' if name == 'pre_trace_in' else 'neuron j'} = {unit}"
    column = _strongest(flat)
    return flat[:, column], f"column {column}"


@styled
def plot_rule_state(record: RunRecord, out: Path) -> Path:
    r"""The learning rule's factors for one representative synapse ``j <- i`` of trial 0, last iteration.

    Panels, top to bottom, as far as the run stores them: pre trace :math:`P_i`, post term
    :math:`\psi_j` (the pseudo-derivative of a spiking neuron; :math:`\phi'(u_j)` of a rate unit,
    0/1 for ReLU), learning signal :math:`L_j`, filtered eligibility :math:`\bar e_{ji}` and the
    cumulative weight change :math:`\Delta W_{ji}`. ``eligibility`` is read as (T, N_post, n_pre)
    when stored; otherwise :math:`\bar e` and :math:`\Delta W` are computed with :func:`synapse_terms`
    from the stored pre trace and post term and the card's constants (e-prop runs). ``j`` is the
    neuron with the largest summed |post term| (else |learning signal|), ``i`` the input with the
    largest summed pre trace.
    """
    state = record.rule_state
    j, i = _representative(state)
    constants = _constants(record)
    rate_unit = constants is not None and constants.rate_unit
    panels: list[tuple[str, np.ndarray, str, str]] = []  # (y label, series, where, note)
    for name, label in RULE_STATE_PANELS:
        if name not in state:
            continue
        series, where = _series(name, state[name], j, i)
        note = ""
        if name == "post_term" and rate_unit:
            label = "φ'(u_j), rate unit"
            if constants.activation == "relu":
                note = "ReLU: 1 while the unit is active, 0 when silent"
            if series.size and np.ptp(series) == 0:
                note = f"constant {series[0]:g} in this trial" + (f" ({note})" if note else "")
        elif name == "post_term":
            label = "pseudo-derivative ψ_j"
        panels.append((label, series, where, note))
    computed = (
        "eligibility" not in state and constants is not None and "pre_trace_in" in state and "post_term" in state
        and str(record.attrs.get("rule", "eprop")) == "eprop"
    )
    if computed:
        pre = _series("pre_trace_in", state["pre_trace_in"], j, i)[0]
        psi = _series("post_term", state["post_term"], j, i)[0]
        learning = _series("learning_signal", state["learning_signal"], j, i)[0] if "learning_signal" in state else None
        beta = float(np.atleast_1d(constants.beta)[min(j, np.atleast_1d(constants.beta).size - 1)])
        terms = synapse_terms(pre, psi, learning, kappa=constants.kappa, s_out=constants.s_out,
                              lr=constants.lr or 1.0, rho=constants.rho, beta=beta)
        where = f"synapse j = {j} ← input i = {i}"
        adapt = f"; ALIF: e = ψ(P − β ε^a), β_j = {beta:g}" if constants.rho is not None else ""
        panels.append(("filtered eligibility ē_ji", terms.filtered, where, f"κ = {constants.kappa:.3g}{adapt}"))
        if terms.delta_w is not None:
            eta = f"η = {constants.lr:g}" if constants.lr else "η = 1"
            panels.append(("ΔW_ji (cumulative)", terms.delta_w, where,
                           f"−η Σ L_j ē_ji, {eta}, plain SGD, trial 0, no rate term"))
    n_steps = max(series.shape[0] for _, series, _, _ in panels)
    t, t_label = _time_axis(record, n_steps)
    fig = Figure(figsize=(8.5, 1.75 * len(panels) + 1.0), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for k, (ax, (label, series, where, note)) in enumerate(zip(axes, panels)):
        ax.plot(t[: series.shape[0]], series, lw=1.2, color=cycle_color(k))
        ax.set_ylabel(label)
        ax.set_title(where, loc="right")
        if note:
            ax.set_title(note, loc="left")
    axes[-1].set_xlabel(t_label)
    fig.suptitle(f"{_title(record)}\nrule state of one synapse (a.u.), last recorded iteration, trial 0")
    return save(fig, out, _DPI)
