r"""Per-mode learning ODEs of BPTT, tBPTT-1 and RFLO, their integration, and discrete population GD.

For one data-aligned mode with :math:`p = ab`, :math:`p^* = a^*b^*`,
:math:`S = 1/(1-w^2)`, :math:`C = 1/(1-ww^*)`, :math:`\hat C = 1/(1-\hat w w)`,
:math:`\hat C^* = 1/(1-\hat w w^*)` (docs/theory.md, setting):

.. math::

    \dot a &= b\,(p^* C - p S) \quad\text{(all rules)}\\
    \text{BPTT:}\quad \dot b &= a\,(p^* C - p S),\qquad \dot w = p\,(p^* w^* C^2 - p w S^2)\\
    \text{tBPTT-1:}\quad \dot b &= a\,(p^* - p),\qquad \dot w = p\,(p^* w^* C - p w S)\\
    \text{RFLO:}\quad \dot b &= \hat a\,(p^* \hat C^* - p \hat C),\qquad
        \dot w = \hat a b\,(p^* w^* \hat C^* C - p w \hat C S)

Time is learning time :math:`t = \eta k`; discrete population GD
:math:`\theta_{k+1} = \theta_k - \eta E[G(\theta_k)]` is the explicit Euler scheme of these ODEs
with step :math:`\eta`, so its deviation from the flow is :math:`O(\eta)`.

References
----------
Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026), poster (RFLO ODE);
Williams, Payeur & Lajoie 2026, docs/theory.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from neuromorph.errors import NonFiniteError, TheoryError
from neuromorph.theory.modes import ModeTrajectory
from neuromorph.theory.population import Rule, population_gradients
from neuromorph.theory.teacher import (
    LinearRNN,
    ModeValues,
    RFLOFeedback,
    spectral_radius,
    validate_student_teacher,
)

__all__ = [
    "IntegratorOptions",
    "ModeFeedback",
    "bptt_field",
    "integrate_mode_odes",
    "max_relative_deviation",
    "mode_field",
    "population_gd",
    "population_gd_modes",
    "rflo_field",
    "tbptt1_field",
]

Field = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class ModeFeedback:
    """Per-mode RFLO substitutes: feedback singular values ``a_hat`` and trace decays ``w_hat``."""

    a_hat: np.ndarray
    w_hat: np.ndarray


@dataclass(frozen=True)
class IntegratorOptions:
    """Options of :func:`scipy.integrate.solve_ivp`: explicit Runge–Kutta 8(5,3) by default.

    ``method`` is handed to scipy unchanged (it is scipy's option, never dispatched on here).
    """

    method: str = "DOP853"
    rtol: float = 1e-10
    atol: float = 1e-12


def bptt_field(a, b, w, a_star, b_star, w_star) -> Field:
    r"""BPTT gradient flow :math:`-\nabla L` per mode (docs/theory.md, setting); elementwise over modes."""
    p, p_star = a * b, a_star * b_star
    S, C = 1.0 / (1.0 - w * w), 1.0 / (1.0 - w * w_star)
    r = p_star * C - p * S
    return b * r, a * r, p * (p_star * w_star * C**2 - p * w * S**2)


def tbptt1_field(a, b, w, a_star, b_star, w_star) -> Field:
    r"""tBPTT-1 expected flow per mode (docs/theory.md, setting); elementwise over modes."""
    p, p_star = a * b, a_star * b_star
    S, C = 1.0 / (1.0 - w * w), 1.0 / (1.0 - w * w_star)
    return b * (p_star * C - p * S), a * (p_star - p), p * (p_star * w_star * C - p * w * S)


def rflo_field(a, b, w, a_star, b_star, w_star, a_hat, w_hat) -> Field:
    r"""RFLO expected flow per mode (docs/theory.md, setting; poster 001); elementwise over modes.

    With :math:`(\hat a, \hat w) = (a, w)` it equals :func:`bptt_field`; with
    :math:`(\hat a, \hat w) = (a, 0)` it equals :func:`tbptt1_field`.
    """
    p, p_star = a * b, a_star * b_star
    S, C = 1.0 / (1.0 - w * w), 1.0 / (1.0 - w * w_star)
    Ch, Ch_star = 1.0 / (1.0 - w_hat * w), 1.0 / (1.0 - w_hat * w_star)
    return (
        b * (p_star * C - p * S),
        a_hat * (p_star * Ch_star - p * Ch),
        a_hat * b * (p_star * w_star * Ch_star * C - p * w * Ch * S),
    )


def _bptt(s: ModeValues, t: ModeValues, _f: ModeFeedback | None) -> Field:
    return bptt_field(s.a, s.b, s.w, t.a, t.b, t.w)


def _tbptt1(s: ModeValues, t: ModeValues, _f: ModeFeedback | None) -> Field:
    return tbptt1_field(s.a, s.b, s.w, t.a, t.b, t.w)


def _rflo(s: ModeValues, t: ModeValues, f: ModeFeedback | None) -> Field:
    if f is None:
        raise TheoryError("the RFLO mode ODE needs ModeFeedback(a_hat, w_hat); pass feedback=...")
    return rflo_field(s.a, s.b, s.w, t.a, t.b, t.w, f.a_hat, f.w_hat)


_FIELDS: dict[Rule, Callable[[ModeValues, ModeValues, ModeFeedback | None], Field]] = {
    Rule.BPTT: _bptt,
    Rule.TBPTT1: _tbptt1,
    Rule.RFLO: _rflo,
}


def mode_field(
    rule: Rule, state: ModeValues, teacher: ModeValues, feedback: ModeFeedback | None = None
) -> Field:
    """Vector field ``(da/dt, db/dt, dw/dt)`` of ``rule`` at ``state`` (feedback used by RFLO only)."""
    return _FIELDS[rule](state, teacher, feedback)


def _check_modes(state: ModeValues, teacher: ModeValues, feedback: ModeFeedback | None) -> None:
    for label, w in (("student w", state.w), ("teacher w*", teacher.w)):
        if np.any(np.abs(w) >= 1.0):
            raise TheoryError(f"{label} = {w} has an entry with |w| >= 1; the mode ODEs need |w| < 1.")
    if feedback is not None and np.any(np.abs(feedback.w_hat) >= 1.0):
        raise TheoryError(f"trace decays w_hat = {feedback.w_hat} need |w_hat| < 1.")


def integrate_mode_odes(
    rule: Rule,
    initial: ModeValues,
    teacher: ModeValues,
    t_eval: np.ndarray,
    feedback: ModeFeedback | None = None,
    options: IntegratorOptions = IntegratorOptions(),
) -> ModeTrajectory:
    """Integrate the per-mode ODEs of ``rule`` from ``initial`` and sample them at ``t_eval``.

    Uses :func:`scipy.integrate.solve_ivp` with ``options`` (default DOP853, rtol 1e-10,
    atol 1e-12) over ``[t_eval[0], t_eval[-1]]``.

    Raises
    ------
    TheoryError
        If ``|w| >= 1`` initially or anywhere along the solution, or if the solver fails.
    """
    _check_modes(initial, teacher, feedback)
    k = len(initial.w)

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        s = ModeValues(a=y[:k], b=y[k : 2 * k], w=y[2 * k :])
        return np.concatenate(mode_field(rule, s, teacher, feedback))

    t_eval = np.asarray(t_eval, dtype=float)
    y0 = np.concatenate([initial.a, initial.b, initial.w]).astype(float)
    sol = solve_ivp(
        rhs,
        (t_eval[0], t_eval[-1]),
        y0,
        method=options.method,
        t_eval=t_eval,
        rtol=options.rtol,
        atol=options.atol,
    )
    if not sol.success:
        raise TheoryError(f"mode ODE integration failed: {sol.message}; shorten t or relax tolerances.")
    y = sol.y.T
    if np.any(np.abs(y[:, 2 * k :]) >= 1.0):
        raise TheoryError("a mode left the stable region |w| < 1 during integration; shorten t.")
    return ModeTrajectory(t=sol.t, a=y[:, :k], b=y[:, k : 2 * k], w=y[:, 2 * k :])


def population_gd_modes(
    rule: Rule,
    initial: ModeValues,
    teacher: ModeValues,
    lr: float,
    steps: int,
    feedback: ModeFeedback | None = None,
) -> ModeTrajectory:
    r"""Discrete population GD in mode coordinates, :math:`\theta_{k+1} = \theta_k + \eta F(\theta_k)`.

    Exact for data-aligned matrices because the per-mode field is the rotated closed-form
    population gradient (docs/theory.md, setting). Records every step; ``t = lr * arange(steps + 1)``.

    Raises
    ------
    TheoryError
        If a mode reaches ``|w| >= 1``. NonFiniteError if the iteration overflows.
    """
    _check_modes(initial, teacher, feedback)
    a, b, w = (np.array(v, dtype=float) for v in (initial.a, initial.b, initial.w))
    out = np.empty((3, steps + 1, len(w)))
    out[:, 0] = a, b, w
    for step in range(1, steps + 1):
        da, db, dw = mode_field(rule, ModeValues(a, b, w), teacher, feedback)
        a, b, w = a + lr * da, b + lr * db, w + lr * dw
        out[:, step] = a, b, w
    if not np.all(np.isfinite(out)):
        raise NonFiniteError(f"population GD diverged (lr = {lr}); lower the learning rate.")
    if np.any(np.abs(out[2]) >= 1.0):
        raise TheoryError(f"population GD pushed a mode to |w| >= 1 (lr = {lr}); lower lr or steps.")
    return ModeTrajectory(t=lr * np.arange(steps + 1), a=out[0], b=out[1], w=out[2])


def population_gd(
    rule: Rule,
    student: LinearRNN,
    teacher: LinearRNN,
    lr: float,
    steps: int,
    feedback: RFLOFeedback | None = None,
    *,
    record_every: int = 1,
) -> list[LinearRNN]:
    r"""Matrix population GD :math:`X_{k+1} = X_k - \eta E[G_X]` with the closed forms of docs/theory.md, setting.

    Returns the snapshots at steps ``0, record_every, 2 record_every, ...`` (learning times
    ``lr * step``). Validates at the start and at every recorded step.

    Raises
    ------
    TheoryError
        On invalid inputs, or when the student's spectral radius reaches 1.
    """
    validate_student_teacher(student, teacher)
    population_gradients(rule, student, teacher, feedback)  # validates the feedback once
    snapshots = [student]
    current = student
    for step in range(1, steps + 1):
        g = population_gradients(rule, current, teacher, feedback, validate=False)
        current = LinearRNN(A=current.A - lr * g.A, B=current.B - lr * g.B, W=current.W - lr * g.W)
        if step % record_every == 0:
            if spectral_radius(current.W) >= 1.0 or not np.all(np.isfinite(current.W)):
                raise TheoryError(
                    f"population GD made the student unstable at step {step} (lr = {lr}); "
                    "lower the learning rate."
                )
            snapshots.append(current)
    return snapshots


def max_relative_deviation(simulated: ModeTrajectory, reference: ModeTrajectory) -> float:
    r"""the metric of docs/theory.md §1, max over modes i and parameters theta of
    :math:`\max_t |\theta_{\rm sim} - \theta_{\rm ode}| / \max_t |\theta_{\rm ode}|`.

    Both trajectories must be sampled at the same times. Parameters that are identically zero in
    ``reference`` (frozen modes) contribute 0 if also zero in ``simulated`` and ``inf`` otherwise.

    Raises
    ------
    TheoryError
        If the trajectories have different shapes or sample times.
    """
    if simulated.a.shape != reference.a.shape or not np.allclose(simulated.t, reference.t):
        raise TheoryError(
            "trajectories are sampled differently; evaluate the ODE at the simulation times "
            "(t_eval=simulated.t)."
        )
    worst = 0.0
    for sim, ref in ((simulated.a, reference.a), (simulated.b, reference.b), (simulated.w, reference.w)):
        dev = np.max(np.abs(sim - ref), axis=0)
        scale = np.max(np.abs(ref), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(scale > 0, dev / np.where(scale > 0, scale, 1.0), np.where(dev > 0, np.inf, 0.0))
        worst = max(worst, float(np.max(ratio)))
    return worst
