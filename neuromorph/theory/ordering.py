r"""Learning order of a mode-aligned teacher's modes, learned by a non-aligned student.

The teacher is mode-aligned, :math:`A^* = U^* \bar A^* P^{*\top}`, :math:`B^* = P^* \bar B^* V^{*\top}`,
:math:`W^* = P^* \bar W^* P^{*\top}`, with mode values :math:`(a^*_i, b^*_i, w^*_i)`. The student
starts small and *not* aligned, so it has no mode coordinates of its own; its progress on teacher
mode ``i`` is read from the projection of its impulse-response kernel onto that mode,

.. math::

    L_i = \tfrac12 \sum_{k \ge 0} \big(u^{*\top}_i A W^k B\, v^*_i - a^*_i w^{*k}_i b^*_i\big)^2 ,

with :math:`u^*_i, v^*_i` the columns of :math:`U^*, V^*`. For an aligned student (same bases) this
is the per-mode loss of docs/theory.md, setting,
:math:`L = \tfrac12[a^2b^2 S - 2ab\,a^*b^* C + a^{*2}b^{*2} S^*]`.

The theory predicts the learning order from the per-mode ODEs (docs/theory.md, setting) started at a small aligned
point: mode ``i`` is "learned" when its loss first falls below half its initial value. Small
initial conditions make each mode escape the saddle near :math:`a = b = 0` after a time that grows
like :math:`\log(|p^*|/s^2)/|p^*|` for BPTT, so strong modes (large :math:`|p^*| = |a^* b^*|`) are
learned first (docs/theory.md §5).

References
----------
Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026), poster panel C;
Williams, Payeur & Lajoie 2026, docs/theory.md; docs/figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuromorph.errors import TheoryError
from neuromorph.theory.odes import ModeFeedback, integrate_mode_odes, population_gd
from neuromorph.theory.population import Rule
from neuromorph.theory.teacher import (
    AlignedBases,
    LinearRNN,
    ModeValues,
    RFLOFeedback,
    aligned_rnn,
    decay_matrix,
    validate_rnn,
)

__all__ = [
    "ModeOrder",
    "active_modes",
    "closed_form_mode_loss",
    "effective_feedback_modes",
    "half_loss_time",
    "measured_half_times",
    "mode_losses",
    "mode_order",
    "predicted_half_times",
    "saddle_escape_scale",
]


@dataclass(frozen=True, eq=False)
class ModeOrder:
    """Predicted and measured half-loss times of the teacher's active modes.

    ``modes`` are the teacher mode indices (those with :math:`a^*_i b^*_i \\ne 0`); ``predicted`` and
    ``measured`` are their half-loss learning times (units of ``eta * steps``); the orders are the
    teacher mode indices sorted from first to last learned. ``times`` (k,) and ``losses`` (k, modes)
    are the measured per-mode losses of the matrix run, for plotting.
    """

    modes: np.ndarray
    predicted: np.ndarray
    measured: np.ndarray
    predicted_order: np.ndarray
    measured_order: np.ndarray
    times: np.ndarray
    losses: np.ndarray

    @property
    def agrees(self) -> bool:
        """Whether the measured learning order equals the predicted one."""
        return bool(np.array_equal(self.predicted_order, self.measured_order))


def active_modes(teacher_modes: ModeValues) -> np.ndarray:
    """Indices ``i`` with :math:`a^*_i b^*_i \\ne 0`, the teacher modes a student can learn.

    Raises
    ------
    TheoryError
        If the teacher has no active mode.
    """
    p_star = np.asarray(teacher_modes.a, dtype=float) * np.asarray(teacher_modes.b, dtype=float)
    idx = np.flatnonzero(p_star != 0.0)
    if idx.size == 0:
        raise TheoryError("the teacher has no mode with a*_i b*_i != 0, so there is nothing to learn.")
    return idx


def closed_form_mode_loss(state: ModeValues, teacher: ModeValues) -> np.ndarray:
    r"""Per-mode loss :math:`\tfrac12[a^2b^2 S - 2ab\,a^*b^* C + a^{*2}b^{*2} S^*]` (docs/theory.md, setting).

    Elementwise; ``state`` entries may be arrays of any shape broadcastable against ``teacher``
    (e.g. a (k, n) trajectory against (n,) teacher values). Needs ``|w|, |w*| < 1``.
    """
    a, b, w = (np.asarray(v, dtype=float) for v in (state.a, state.b, state.w))
    a_s, b_s, w_s = (np.asarray(v, dtype=float) for v in (teacher.a, teacher.b, teacher.w))
    p, p_star = a * b, a_s * b_s
    S, C, S_star = 1.0 / (1.0 - w * w), 1.0 / (1.0 - w * w_s), 1.0 / (1.0 - w_s * w_s)
    return 0.5 * (p * p * S - 2.0 * p * p_star * C + p_star * p_star * S_star)


def mode_losses(
    student: LinearRNN, teacher_modes: ModeValues, teacher_bases: AlignedBases, n_lags: int = 200
) -> np.ndarray:
    r"""Loss of ``student`` on each active teacher mode, truncated after ``n_lags`` lags (module docstring).

    Returns an array over :func:`active_modes` (in index order). The truncation error is of order
    :math:`\rho(W)^{2 n_{\rm lags}}`, negligible for the default 200 lags when :math:`\rho < 0.9`.

    Raises
    ------
    TheoryError
        If the student is invalid (see :func:`~neuromorph.theory.teacher.validate_rnn`), if its
        dimensions do not match the teacher's bases, or if ``n_lags < 1``.
    """
    _, m, o = validate_rnn(student, name="student")
    if (m, o) != (teacher_bases.V.shape[0], teacher_bases.U.shape[0]):
        raise TheoryError(
            f"student has (m, o) = {(m, o)} but the teacher's bases have "
            f"{(teacher_bases.V.shape[0], teacher_bases.U.shape[0])}; they must match."
        )
    if n_lags < 1:
        raise TheoryError(f"n_lags = {n_lags} must be >= 1.")
    idx = active_modes(teacher_modes)
    readout = teacher_bases.U[:, idx].T @ student.A  # rows u*_i^T A, (k, n)
    states = student.B @ teacher_bases.V[:, idx]  # columns B v*_i, (n, k)
    stack, power = states[None], student.W
    while stack.shape[0] < n_lags:  # W^j B v*_i for j < n_lags, by repeated doubling
        stack = np.concatenate([stack, power @ stack])
        power = power @ power
    student_kernel = np.einsum("in,jni->ji", readout, stack[:n_lags])  # (n_lags, k)
    a_s, b_s, w_s = (np.asarray(v, dtype=float)[idx] for v in (teacher_modes.a, teacher_modes.b, teacher_modes.w))
    teacher_kernel = a_s * b_s * w_s ** np.arange(n_lags)[:, None]
    return 0.5 * np.sum((student_kernel - teacher_kernel) ** 2, axis=0)


def half_loss_time(
    t: np.ndarray, losses: np.ndarray, modes: np.ndarray | None = None, hint: str = "run longer"
) -> np.ndarray:
    """First time each column of ``losses`` (k, modes) falls to half its initial value.

    Linear interpolation between the two samples that bracket the crossing. ``modes`` names the
    columns in error messages (default 0, 1, ...).

    Raises
    ------
    TheoryError
        If a column never reaches half its initial loss (names the mode and appends ``hint``).
    """
    t, losses = np.asarray(t, dtype=float), np.asarray(losses, dtype=float)
    names = np.arange(losses.shape[1]) if modes is None else np.asarray(modes)
    out = np.empty(losses.shape[1])
    for j in range(losses.shape[1]):
        target = 0.5 * losses[0, j]
        below = np.flatnonzero(losses[:, j] <= target)
        if below.size == 0:
            raise TheoryError(
                f"teacher mode {names[j]} never falls below half its initial loss "
                f"(L = {losses[-1, j]:.4g} > {target:.4g} at t = {t[-1]:.4g}); {hint}."
            )
        k = below[0]
        if k == 0:
            out[j] = t[0]
            continue
        l0, l1 = losses[k - 1, j], losses[k, j]
        out[j] = t[k - 1] + (t[k] - t[k - 1]) * (l0 - target) / (l0 - l1)
    return out


def predicted_half_times(
    rule: Rule,
    teacher_modes: ModeValues,
    init_scale: float | np.ndarray,
    feedback: ModeFeedback | None = None,
    t_max: float = 100.0,
    n_eval: int = 4001,
) -> np.ndarray:
    r"""Theory prediction of each active mode's half-loss learning time.

    Integrates the per-mode ODEs of ``rule`` (:func:`~neuromorph.theory.odes.integrate_mode_odes`)
    from the small aligned point :math:`a_i = s_i\,\mathrm{sign}(a^*_i)`,
    :math:`b_i = s_i\,\mathrm{sign}(b^*_i)`, :math:`w_i = 0`, on ``n_eval`` equally spaced times in
    ``[0, t_max]``, evaluates :func:`closed_form_mode_loss` and returns :func:`half_loss_time` per
    active mode. The order of the result (``np.argsort``) is the predicted learning order.

    Parameters
    ----------
    init_scale : float or array
        :math:`s > 0`, one value or one per active mode (see :func:`saddle_escape_scale`).
    feedback : ModeFeedback, optional
        Per-mode :math:`(\hat a, \hat w)` for RFLO, over all n modes.

    Raises
    ------
    TheoryError
        If ``init_scale`` is not positive, if a mode never reaches half its loss within ``t_max``
        (the message names it and suggests a longer ``t_max``), or if the integration fails.
    """
    idx = active_modes(teacher_modes)
    scale = np.broadcast_to(np.asarray(init_scale, dtype=float), idx.shape)
    if not np.all(scale > 0.0):
        raise TheoryError(f"init_scale = {init_scale} must be > 0 (a = b = 0 is stationary for BPTT).")
    values = (teacher_modes.a, teacher_modes.b, teacher_modes.w)
    teacher = ModeValues(*(np.asarray(v, dtype=float)[idx] for v in values))
    initial = ModeValues(a=scale * np.sign(teacher.a), b=scale * np.sign(teacher.b), w=np.zeros(idx.size))
    if feedback is not None:
        feedback = ModeFeedback(a_hat=np.asarray(feedback.a_hat)[idx], w_hat=np.asarray(feedback.w_hat)[idx])
    traj = integrate_mode_odes(rule, initial, teacher, np.linspace(0.0, t_max, n_eval), feedback)
    losses = closed_form_mode_loss(ModeValues(traj.a, traj.b, traj.w), teacher)
    hint = f"the {rule.name} ODE needs longer than t_max = {t_max:g}; try t_max = {4 * t_max:g}"
    return half_loss_time(traj.t, losses, idx, hint)


def measured_half_times(
    times: np.ndarray,
    snapshots: Sequence[LinearRNN],
    teacher_modes: ModeValues,
    teacher_bases: AlignedBases,
    n_lags: int = 200,
) -> np.ndarray:
    """Half-loss learning time of each active teacher mode measured from parameter snapshots.

    Evaluates :func:`mode_losses` at every snapshot and interpolates linearly between snapshots
    (:func:`half_loss_time`).

    Raises
    ------
    TheoryError
        If ``times`` and ``snapshots`` differ in length, or a mode never reaches half its loss.
    """
    losses = _loss_curves(times, snapshots, teacher_modes, teacher_bases, n_lags)
    hint = "run more steps or use a larger learning rate"
    return half_loss_time(times, losses, active_modes(teacher_modes), hint)


def _loss_curves(times, snapshots, teacher_modes, teacher_bases, n_lags) -> np.ndarray:
    if len(times) != len(snapshots):
        raise TheoryError(f"got {len(times)} times but {len(snapshots)} snapshots; pass one time per snapshot.")
    return np.array([mode_losses(s, teacher_modes, teacher_bases, n_lags) for s in snapshots])


def saddle_escape_scale(student: LinearRNN, teacher_modes: ModeValues, teacher_bases: AlignedBases) -> np.ndarray:
    r"""Aligned initial scale :math:`s_i` equivalent to a non-aligned student, per active mode.

    Near :math:`a = b = 0` the mode dynamics are linear, :math:`\dot{\mathbf a} = p^* \mathbf b`,
    :math:`\dot{\mathbf b} = p^* \mathbf a`, for the vectors :math:`\mathbf a_i = A^\top u^*_i` and
    :math:`\mathbf b_i = B v^*_i` in the student's hidden space. Only the component along the
    growing direction :math:`\mathbf a = \mathrm{sign}(p^*)\,\mathbf b` matters, so the student
    behaves like an aligned mode with :math:`a = b = s_i`,
    :math:`s_i = \lVert \mathbf a_i + \mathrm{sign}(p^*_i)\,\mathbf b_i \rVert / 2`. Exact for the
    BPTT and tBPTT-1 linearisation at w = 0; a heuristic for RFLO.
    """
    idx = active_modes(teacher_modes)
    p_sign = np.sign(np.asarray(teacher_modes.a)[idx] * np.asarray(teacher_modes.b)[idx])
    a_vec = student.A.T @ teacher_bases.U[:, idx]
    b_vec = student.B @ teacher_bases.V[:, idx]
    return np.linalg.norm(a_vec + p_sign * b_vec, axis=0) / 2.0


def effective_feedback_modes(
    feedback: RFLOFeedback, teacher_modes: ModeValues, teacher_bases: AlignedBases
) -> ModeFeedback:
    r"""Per-mode RFLO substitutes seen by a *non-aligned* student, over all n teacher modes.

    Every RFLO update of ``B`` and ``W`` lies in the span of the rows of :math:`\hat A` (docs/theory.md §4),
    so the error of teacher output direction :math:`u^*_i` is fed back along
    :math:`r_i = \hat A^\top u^*_i`, and a student started near zero grows mode ``i`` along that
    hidden direction (with the sign it likes). Hence
    :math:`\hat a_i = \mathrm{sign}(a^*_i)\,\lVert r_i \rVert` (the stable branch
    :math:`\hat a a > 0` for the sign-matched start of :func:`predicted_half_times`) and
    :math:`\hat w_i = \hat r_i^\top D \hat r_i`, :math:`\hat r_i = r_i / \lVert r_i \rVert`
    (exact for a scalar decay). It neglects the overlap :math:`\hat r_i^\top \hat r_j` of different
    modes' directions. Compare :func:`~neuromorph.theory.modes.feedback_mode_values` in the teacher's
    bases, which is exact only for a student aligned in those bases.
    """
    n = teacher_bases.P.shape[0]
    r = np.asarray(feedback.A_hat, dtype=float).T @ teacher_bases.U  # (n_student, o), columns r_i
    norms = np.linalg.norm(r, axis=0)
    D = decay_matrix(feedback.decay, r.shape[0])
    unit = r / np.where(norms > 0.0, norms, 1.0)
    a_hat, w_hat = np.zeros(n), np.zeros(n)
    k = min(n, r.shape[1])
    a_hat[:k] = np.sign(np.asarray(teacher_modes.a, dtype=float)[:k]) * norms[:k]
    w_hat[:k] = np.einsum("ni,nm,mi->i", unit, D, unit)[:k]
    return ModeFeedback(a_hat=a_hat, w_hat=w_hat)


def mode_order(
    rule: Rule,
    student: LinearRNN,
    teacher_modes: ModeValues,
    teacher_bases: AlignedBases,
    lr: float,
    steps: int,
    feedback: RFLOFeedback | None = None,
    *,
    record_every: int = 10,
    init_scale: float | np.ndarray | None = None,
    t_max: float | None = None,
    n_lags: int = 200,
    feedback_modes: ModeFeedback | None = None,
) -> ModeOrder:
    r"""Run matrix population GD of ``rule`` from ``student`` and compare the learned mode order with theory.

    The teacher is ``aligned_rnn(teacher_modes, teacher_bases)``. Measured half-times come from
    :func:`measured_half_times` on :func:`~neuromorph.theory.odes.population_gd` snapshots taken every
    ``record_every`` steps; predicted ones from :func:`predicted_half_times` with ``init_scale``
    (default :func:`saddle_escape_scale` of ``student``) and ``t_max`` (default ``lr * steps``).
    The prediction starts every mode at ``w_i = 0``; the student's own (small) ``W`` is ignored.

    For RFLO the ODE uses ``feedback_modes`` if given, else :func:`effective_feedback_modes`: every
    RFLO update lies in the span of the rows of :math:`\hat A` (docs/theory.md §4), so mode ``i`` grows along
    :math:`\hat A^\top u^*_i`, and :math:`\hat a_i = \mathrm{sign}(a^*_i)\lVert \hat A^\top u^*_i\rVert`.
    (The teacher-basis values of :func:`~neuromorph.theory.modes.feedback_mode_values` are exact
    only for a student aligned in those bases; for non-aligned students they predicted the order
    in 15 of 30 seeds, this estimate in 26 of 30.)

    Raises
    ------
    TheoryError
        On invalid networks or feedback, an unstable run, or a mode that is not learned to half
        its loss within the run (measured) or ``t_max`` (predicted).
    """
    if lr <= 0 or steps < 1 or record_every < 1:
        raise TheoryError(f"need lr > 0, steps >= 1 and record_every >= 1; got {lr}, {steps}, {record_every}.")
    teacher = aligned_rnn(teacher_modes, teacher_bases)
    snapshots = population_gd(rule, student, teacher, lr, steps, feedback, record_every=record_every)
    times = lr * record_every * np.arange(len(snapshots))
    losses = _loss_curves(times, snapshots, teacher_modes, teacher_bases, n_lags)
    measured = half_loss_time(times, losses, active_modes(teacher_modes), f"the {rule.name} run needs more steps")
    modes_fb = feedback_modes
    if rule is Rule.RFLO and modes_fb is None and feedback is not None:
        modes_fb = effective_feedback_modes(feedback, teacher_modes, teacher_bases)
    scale = saddle_escape_scale(student, teacher_modes, teacher_bases) if init_scale is None else init_scale
    predicted = predicted_half_times(
        rule, teacher_modes, scale, modes_fb, t_max=lr * steps if t_max is None else t_max
    )
    idx = active_modes(teacher_modes)
    return ModeOrder(
        modes=idx,
        predicted=predicted,
        measured=measured,
        predicted_order=idx[np.argsort(predicted, kind="stable")],
        measured_order=idx[np.argsort(measured, kind="stable")],
        times=times,
        losses=losses,
    )

