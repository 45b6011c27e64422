"""PNG figures of the linear-RNN theory of local learning (docs/theory.md, figures).

Conventions of :mod:`neuromorph.plots.style` (Agg canvas, no pyplot), one function per figure,
each writes ``path`` and returns it as a :class:`~pathlib.Path`. Mode ``i`` is drawn in
colour ``C{i}`` in every figure. Data come from :mod:`neuromorph.theory` (numpy only); nothing
here imports torch or a backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neuromorph.plots.style import PALETTE, cycle_color, integer_axis, log_axis, overlap_styles, save, styled
from neuromorph.theory.figures_data import RULE_LABELS, manifold_points
from neuromorph.theory.modes import ModeTrajectory
from neuromorph.theory.odes import ModeFeedback, mode_field
from neuromorph.theory.ordering import active_modes
from neuromorph.theory.population import Rule
from neuromorph.theory.stability import RULES_WITH_ZERO_MANIFOLD
from neuromorph.theory.teacher import ModeValues

__all__ = [
    "plot_convergence_rates",
    "plot_mode_order",
    "plot_mode_trajectories",
    "plot_rank_restriction",
    "plot_vector_fields",
]

_DPI = 150
#: Line styles of the simulation kinds in :func:`plot_mode_trajectories`, in order of appearance.
_KIND_STYLES = (
    {"ls": "--", "lw": 1.2},
    {"ls": "none", "marker": "o", "markersize": 3.0, "markerfacecolor": "none"},
    {"ls": "-.", "lw": 1.0},
    {"ls": "none", "marker": "x", "markersize": 3.5},
)
_STABLE = {"color": PALETTE[2], "marker": "o", "ls": "none", "markersize": 5}
_UNSTABLE = {"color": PALETTE[1], "marker": "o", "ls": "none", "markersize": 5, "markerfacecolor": "none"}
_SADDLE_LINE = {"color": PALETTE[1], "marker": "X", "ls": "none", "markersize": 9}


def _rule_label(key: str | Rule) -> str:
    """``"bptt"`` / ``Rule.BPTT`` -> ``"BPTT"``; unknown keys are shown as given."""
    if isinstance(key, Rule):
        return RULE_LABELS[key]
    rule = Rule.__members__.get(str(key).upper().replace("-", ""))
    return RULE_LABELS[rule] if rule is not None else str(key)


# -- panel A: mode trajectories -----------------------------------------------------------------


@styled
def plot_mode_trajectories(
    ode: dict[str, ModeTrajectory],
    simulated: dict[str, dict[str, ModeTrajectory]],
    teacher: ModeValues,
    path: str | os.PathLike[str],
) -> Path:
    """Per-mode ``a_i(t)``, ``b_i(t)``, ``w_i(t)`` of each rule: the ODE against simulations.

    One row per key of ``ode`` (e.g. ``"bptt"``, ``"tbptt1"``, ``"rflo"``), columns ``a``, ``b``,
    ``w``; x axis is learning time ``t = eta * steps``. The ODE solution is solid, each simulation
    kind in ``simulated[key]`` (e.g. ``"population GD"``, ``"SGD (torch)"``) has its own dashed or
    marker style, and the teacher values ``a*_i, b*_i, w*_i`` are dotted horizontal lines. Only modes
    with ``a*_i b*_i != 0`` are drawn, each in its own colour.
    """
    modes = active_modes(teacher)
    kinds = list(dict.fromkeys(kind for runs in simulated.values() for kind in runs))
    styles = {kind: _KIND_STYLES[j % len(_KIND_STYLES)] for j, kind in enumerate(kinds)}
    fig = Figure(figsize=(11, 2.6 * len(ode) + 0.8), layout="constrained")
    axes = fig.subplots(len(ode), 3, squeeze=False, sharex="row")
    for row, (key, traj) in zip(axes, ode.items()):
        for ax, name in zip(row, ("a", "b", "w")):
            for i in modes:
                color = cycle_color(i)
                ax.plot(traj.t, getattr(traj, name)[:, i], color=color, lw=2.6, alpha=0.45)
                for kind, sim in simulated.get(key, {}).items():
                    style = dict(styles[kind])
                    if "marker" in style:
                        style["markevery"] = max(1, len(sim.t) // 25)
                    ax.plot(sim.t, getattr(sim, name)[:, i], color=color, **style)
                ax.axhline(float(np.asarray(getattr(teacher, name))[i]), color=color, ls=":", lw=1.0)
            ax.set_title(f"{_rule_label(key)}: {name}_i(t)", fontsize=9.5)
            ax.set_ylabel(name)
        for ax in row:
            ax.set_xlabel("learning time t = η · steps")
    handles = [Line2D([], [], color="k", lw=2.6, alpha=0.45, label="per-mode ODE")]
    handles += [Line2D([], [], color="k", label=kind, **styles[kind]) for kind in kinds]
    handles += [Line2D([], [], color="k", ls=":", label="teacher value")]
    handles += [Line2D([], [], color=cycle_color(i), lw=3, label=f"mode {i}") for i in modes]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), frameon=False)
    return save(fig, path, _DPI)


# -- panel B: vector fields and stationary manifolds --------------------------------------------


def _stream(ax: Axes, X: np.ndarray, Y: np.ndarray, U: np.ndarray, V: np.ndarray, density: float) -> None:
    """Grey streamlines, thicker where the field is faster (log scale)."""
    speed = np.log1p(np.hypot(U, V))
    width = 0.4 + 1.2 * speed / max(float(speed.max()), 1e-12)
    ax.streamplot(X, Y, U, V, color="0.55", linewidth=width, density=density, arrowsize=0.8)


def _manifold_markers(ax: Axes, xy: np.ndarray, stable: np.ndarray) -> None:
    ax.plot(xy[stable, 0], xy[stable, 1], **_STABLE)
    ax.plot(xy[~stable, 0], xy[~stable, 1], **_UNSTABLE)


@styled
def plot_vector_fields(
    teacher_mode: tuple[float, float, float],
    a_hat: float,
    w_hat: float,
    path: str | os.PathLike[str],
    *,
    a_slice: float | None = None,
    density: float = 0.9,
) -> Path:
    """Flow of the per-mode ODEs on two planes, with the stationary manifolds and their stability.

    Rows: BPTT, tBPTT-1, RFLO (feedback ``a_hat``, trace decay ``w_hat``). Left: the ``(a, b)``
    plane at ``w = w*``, where ``M_opt`` is the hyperbola ``ab = a*b*`` (black line) and ``M_0`` is
    the origin. Right: the ``(b, w)`` plane at ``a = a_slice`` (default ``a*``), where ``M_opt`` is
    the point ``(p*/a_slice, w*)``; ``a_slice = -a*`` shows RFLO's wrong-sign branch. The planes are
    not invariant: streamlines show the projected field. Points of ``M_opt`` are green (stable:
    ``tr > 0`` and ``s2 > 0`` of docs/theory.md §2) or red open circles (unstable); ``M_0`` (BPTT,
    tBPTT-1 only) is a red cross (saddle, docs/theory.md §2). ``density`` is handed to ``streamplot`` (its cost
    grows like ``density**2``; 0.9 takes a few seconds).
    """
    a_star, b_star, w_star = (float(v) for v in teacher_mode)
    p_star = a_star * b_star
    a_fix = a_star if a_slice is None else float(a_slice)
    lim = 2.0 * max(abs(a_star), abs(b_star), np.sqrt(abs(p_star)))
    grid = np.linspace(-lim, lim, 41)
    w_grid = np.linspace(-0.95, 0.95, 41)
    teacher = ModeValues(a=np.float64(a_star), b=np.float64(b_star), w=np.float64(w_star))
    feedback = ModeFeedback(a_hat=np.float64(a_hat), w_hat=np.float64(w_hat))
    branch = np.geomspace(abs(p_star) / lim, lim, 60)
    samples = np.concatenate([-np.geomspace(lim, abs(p_star) / lim, 9), np.geomspace(abs(p_star) / lim, lim, 9)])
    rules = (Rule.BPTT, Rule.TBPTT1, Rule.RFLO)
    fig = Figure(figsize=(10, 3.4 * len(rules) + 0.6), layout="constrained")
    axes = fig.subplots(len(rules), 2, squeeze=False)
    for (ax_ab, ax_bw), rule in zip(axes, rules):
        A, B = np.meshgrid(grid, grid)
        da, db, _ = mode_field(rule, ModeValues(A, B, np.full_like(A, w_star)), teacher, feedback)
        _stream(ax_ab, A, B, da, db, density)
        for sign in (1.0, -1.0):  # the two branches a > 0 and a < 0
            ax_ab.plot(sign * branch, p_star / (sign * branch), color="k", lw=0.8)
        points, stable = manifold_points(rule, teacher_mode, a_hat, w_hat, samples)
        _manifold_markers(ax_ab, points[:, :2], stable)
        if rule in RULES_WITH_ZERO_MANIFOLD:
            ax_ab.plot([0.0], [0.0], **_SADDLE_LINE)
        ax_ab.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="a", ylabel="b")
        ax_ab.set_title(f"{RULE_LABELS[rule]}: (a, b) plane at w = w* = {w_star:g}", fontsize=9.5)
        Bw, Wb = np.meshgrid(grid, w_grid)
        _, db, dw = mode_field(rule, ModeValues(np.full_like(Bw, a_fix), Bw, Wb), teacher, feedback)
        _stream(ax_bw, Bw, Wb, db, dw, density)
        point, stable_pt = manifold_points(rule, teacher_mode, a_hat, w_hat, np.array([a_fix]))
        _manifold_markers(ax_bw, point[:, 1:], stable_pt)
        ax_bw.set(xlim=(-lim, lim), ylim=(-0.95, 0.95), xlabel="b", ylabel="w")
        ax_bw.set_title(f"{RULE_LABELS[rule]}: (b, w) plane at a = {a_fix:g}", fontsize=9.5)
    handles = [
        Line2D([], [], color="k", lw=0.8, label="M_opt: ab = a*b*, w = w*"),
        Line2D([], [], label="M_opt point, stable (tr>0, s2>0)", **_STABLE),
        Line2D([], [], label="M_opt point, unstable", **_UNSTABLE),
        Line2D([], [], label="M_0: a = b = 0 (saddle; BPTT, tBPTT-1)", **_SADDLE_LINE),
    ]
    fig.suptitle(f"teacher (a*, b*, w*) = ({a_star:g}, {b_star:g}, {w_star:g}); RFLO â = {a_hat:g}, ŵ = {w_hat:g}")
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return save(fig, path, _DPI)


# -- panel D and extras ---------------------------------------------------------------------------


@styled
def plot_rank_restriction(singular_values: dict[str, np.ndarray], o: int, path: str | os.PathLike[str]) -> Path:
    """Singular values of ``W_k - W_0`` (log y) against their index, one line per variant.

    RFLO with one scalar trace decay has exactly ``o`` non-zero values (docs/theory.md §4); the negative
    controls (heterogeneous decays, tanh units, BPTT) a full spectrum. The vertical line sits between
    index ``o`` and ``o + 1``. Values below ``1e-20 * sigma_max`` (exact zeros) are drawn at that floor.
    """
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    n_points = max((np.size(v) for v in singular_values.values()), default=0)
    for (label, values), style in zip(singular_values.items(), overlap_styles(len(singular_values), n_points)):
        s = np.asarray(values, dtype=float)
        floor = 1e-20 * max(float(s.max(initial=0.0)), np.finfo(float).tiny)
        style = {"marker": "o", "markersize": 4, **style, "markevery": None}  # coinciding variants stay visible
        ax.plot(np.arange(1, s.size + 1), np.maximum(s, floor), label=label, **style)
    ax.axvline(o + 0.5, color="k", ls="--", lw=1.0, label=f"rank ≤ o = {o}")
    log_axis(ax, "y")
    ax.set_xlabel("singular value index i")
    integer_axis(ax, "x")
    ax.set_ylabel("σ_i(W_k − W_0) (floor 1e-20 σ_max)")
    ax.set_title("Rank restriction of RFLO updates")
    ax.legend()
    return save(fig, path, _DPI)


@styled
def plot_convergence_rates(w_star: np.ndarray, rates: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    """Asymptotic convergence rate ``λ_min`` (log y) against the teacher eigenvalue ``w*``, per rule.

    ``rates`` maps a label to ``λ_min`` on the ``w_star`` grid, e.g. from
    :func:`neuromorph.theory.figures_data.rates_vs_w_star` (balanced optimum a = b = 1, docs/theory.md §3):
    BPTT diverges like ``(a²+b²)/(2(1-w*²))``, tBPTT-1 and RFLO saturate.
    """
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for k, (label, values) in enumerate(rates.items()):
        ax.plot(w_star, values, label=label, color=cycle_color(k), ls=("-", "--", ":", "-.")[k % 4], lw=1.8)
    log_axis(ax, "y")
    ax.set_xlabel("teacher eigenvalue w*")
    ax.set_ylabel("λ_min (per unit t = η · steps)")
    ax.set_title("Asymptotic convergence rate at the optimum")
    ax.legend()
    return save(fig, path, _DPI)


@styled
def plot_mode_order(
    times: np.ndarray,
    measured_losses: np.ndarray,
    predicted_half_times: np.ndarray,
    measured_half_times: np.ndarray,
    path: str | os.PathLike[str],
    *,
    modes: np.ndarray | None = None,
) -> Path:
    """Learning order of the teacher's modes for a non-aligned student (poster panel C).

    Per-mode loss fraction ``L_i(t) / L_i(0)`` of the matrix run (``measured_losses`` is
    (len(times), modes), e.g. :attr:`neuromorph.theory.ordering.ModeOrder.losses`), with vertical
    lines at the half-loss times predicted by the mode ODE (dashed) and measured (solid), each in
    the mode's colour; the dotted line marks half the initial loss. ``modes`` are the teacher mode
    indices of the columns (default 0, 1, ...), used for colours and labels.
    """
    losses = np.asarray(measured_losses, dtype=float)
    modes = np.arange(losses.shape[1]) if modes is None else np.asarray(modes)
    fig = Figure(figsize=(7.5, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for j, i in enumerate(modes):
        color = cycle_color(int(i))
        ax.plot(times, losses[:, j] / losses[0, j], color=color, lw=1.6, label=f"mode {i}")
        ax.axvline(predicted_half_times[j], color=color, ls="--", lw=1.0)
        ax.axvline(measured_half_times[j], color=color, ls="-", lw=1.0, alpha=0.7)
    ax.axhline(0.5, color="0.4", ls=":", lw=1.0, label="half the initial loss")
    handles, _ = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="k", ls="--", lw=1.0, label="predicted half-time (ODE)"),
        Line2D([], [], color="k", ls="-", lw=1.0, alpha=0.7, label="measured half-time"),
    ]
    ax.set_xlabel("learning time t = η · steps")
    ax.set_ylabel("L_i(t) / L_i(0)")
    ax.set_ylim(-0.02, 1.1)
    ax.set_title("Non-aligned student: order in which teacher modes are learned")
    ax.legend(handles=handles)
    return save(fig, path, _DPI)
