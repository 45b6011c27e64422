"""Mode decoupling, per-mode ODE vs discrete learning, special cases of the RFLO field (docs/theory.md).

The chain of oracles: matrix closed-form population gradients (checked against the algorithms in
test_theory_population.py) -> rotated into the shared bases they equal the per-mode field
(test below) -> matrix population GD stays diagonal and equals mode-coordinate GD ->
mode-coordinate GD is O(eta) from the solve_ivp solution of the ODE (docs/theory.md §1).
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.theory import (
    ModeFeedback,
    ModeValues,
    Rule,
    aligned_feedback,
    aligned_rnn,
    bptt_field,
    integrate_mode_odes,
    max_relative_deviation,
    mode_aligned_setup,
    mode_field,
    mode_trajectory,
    off_diagonal_leakage,
    population_gd,
    population_gd_modes,
    population_gradients,
    random_bases,
    random_mode_values,
    rflo_field,
    rotated_matrices,
    tbptt1_field,
)

# A readable data-aligned setup, n = m = o = 3, |w*| <= 0.8. The student starts
# with the teacher's signs (sign(a0 b0) = sign(p*)), so no mode passes near the saddle a = b = 0,
# where the O(eta) constant of the Euler error is not uniform (see the report in the commit).
TEACHER = ModeValues(a=np.array([1.0, -0.8, 1.2]), b=np.array([0.9, 1.1, -0.7]), w=np.array([0.6, -0.5, 0.2]))
STUDENT0 = ModeValues(a=np.array([0.5, -0.6, 0.8]), b=np.array([0.6, 0.8, -0.5]), w=np.array([0.0, 0.3, -0.4]))
A_HAT = np.array([0.8, -1.0, 1.2])
W_HAT_SCALAR = np.full(3, 0.5)  # RFLO trace decay 0.5
W_HAT_MODES = np.array([0.0, 0.7, -0.4])  # a mode-dependent RFLO trace decay


def _matrices(seed: int = 0, w_hat: np.ndarray = W_HAT_MODES):
    bases = random_bases(3, 3, 3, np.random.default_rng(seed))
    student, teacher = aligned_rnn(STUDENT0, bases), aligned_rnn(TEACHER, bases)
    return bases, student, teacher, aligned_feedback(bases, A_HAT, w_hat)


@pytest.mark.parametrize("rule", list(Rule), ids=lambda r: r.name)
def test_rotated_closed_form_gradient_is_minus_the_mode_field(rule):
    """At random data-aligned points, U^T E[G_A] P etc. are diagonal and equal -(da, db, dw)/dt."""
    rng = np.random.default_rng(11)
    for _ in range(5):
        bases = random_bases(4, 3, 2, rng)
        state, target = random_mode_values(4, 3, 2, rng), random_mode_values(4, 3, 2, rng)
        a_hat, w_hat = np.array([0.7, -1.3, 0.0, 0.0]), rng.uniform(-0.9, 0.9, 4)
        g = population_gradients(
            rule, aligned_rnn(state, bases), aligned_rnn(target, bases), aligned_feedback(bases, a_hat, w_hat)
        )
        GA, GB, GW = (bases.U.T @ g.A @ bases.P, bases.P.T @ g.B @ bases.V, bases.P.T @ g.W @ bases.P)
        da, db, dw = mode_field(rule, state, target, ModeFeedback(a_hat, w_hat))
        scale = max(np.abs(GA).max(), np.abs(GB).max(), np.abs(GW).max())
        np.testing.assert_allclose(np.diagonal(GA), -da[:2], atol=1e-12 * scale)
        np.testing.assert_allclose(np.diagonal(GB), -db[:3], atol=1e-12 * scale)
        np.testing.assert_allclose(np.diagonal(GW), -dw, atol=1e-12 * scale)
        for M in (GA, GB, GW):
            off = M - np.eye(*M.shape) * M
            assert np.abs(off).max() < 1e-12 * scale


@pytest.mark.parametrize("rule", list(Rule), ids=lambda r: r.name)
def test_check3_mode_decoupling_and_matrix_gd_equals_mode_gd(rule):
    """5000 population-GD steps keep U^T A P, P^T B V, P^T W P diagonal (< 1e-12).

    The diagonal equals mode-coordinate GD (1e-12) and stays O(eta) from the ODE (< 2 eta).
    """
    lr, steps = 1e-3, 5000
    bases, student, teacher, feedback = _matrices()
    snapshots = population_gd(rule, student, teacher, lr, steps, feedback, record_every=25)
    leak = max(off_diagonal_leakage(p, bases) for p in snapshots)
    assert leak < 1e-12
    matrix_traj = mode_trajectory(snapshots, bases, lr * np.arange(0, steps + 1, 25))
    fb_modes = ModeFeedback(A_HAT, W_HAT_MODES)
    modes_traj = population_gd_modes(rule, STUDENT0, TEACHER, lr, steps, fb_modes)
    for got, want in ((matrix_traj.a, modes_traj.a), (matrix_traj.b, modes_traj.b), (matrix_traj.w, modes_traj.w)):
        np.testing.assert_allclose(got, want[::25], rtol=0, atol=1e-12)
    ode = integrate_mode_odes(rule, STUDENT0, TEACHER, matrix_traj.t, fb_modes)
    assert max_relative_deviation(matrix_traj, ode) < 2 * lr


def test_check3_negative_control_merely_mode_aligned_teacher_leaks():
    """With a teacher diagonal in other bases, learning leaves the student's aligned manifold."""
    setup = mode_aligned_setup(3, 3, 3, np.random.default_rng(30))
    snapshots = population_gd(Rule.BPTT, setup.student, setup.teacher, 1e-2, 300, record_every=300)
    assert off_diagonal_leakage(snapshots[0], setup.student_bases) < 1e-14
    assert off_diagonal_leakage(snapshots[-1], setup.student_bases) > 1e-3


@pytest.mark.parametrize(
    "rule, w_hat",
    [(Rule.BPTT, None), (Rule.TBPTT1, None), (Rule.RFLO, W_HAT_SCALAR), (Rule.RFLO, W_HAT_MODES)],
    ids=["BPTT", "TBPTT1", "RFLO-scalar-decay", "RFLO-mode-decay"],
)
def test_check4_ode_vs_discrete_population_gd_is_first_order(rule, w_hat):
    """Max relative deviation < 2 eta at eta = 1e-3, t_end = 30; ratio under halving in [1.8, 2.2]."""
    feedback = ModeFeedback(A_HAT, W_HAT_SCALAR if w_hat is None else w_hat)
    deviations = []
    for lr in (2e-3, 1e-3):
        gd = population_gd_modes(rule, STUDENT0, TEACHER, lr, int(round(30.0 / lr)), feedback)
        ode = integrate_mode_odes(rule, STUDENT0, TEACHER, gd.t, feedback)
        deviations.append(max_relative_deviation(gd, ode))
    assert deviations[1] < 2 * 1e-3
    assert 1.8 <= deviations[0] / deviations[1] <= 2.2


def test_check4_metric_detects_a_wrong_flow():
    """The deviation metric is not vacuous: tBPTT-1 GD is 20x farther from the BPTT flow than from its own."""
    gd = population_gd_modes(Rule.TBPTT1, STUDENT0, TEACHER, 1e-2, 1000)
    own = max_relative_deviation(gd, integrate_mode_odes(Rule.TBPTT1, STUDENT0, TEACHER, gd.t))
    wrong = max_relative_deviation(gd, integrate_mode_odes(Rule.BPTT, STUDENT0, TEACHER, gd.t))
    assert wrong > 20 * own


def test_check6_special_cases_of_the_rflo_field():
    """Field identities: RFLO(a_hat, w_hat) = (a, w) is BPTT and (a, 0) is tBPTT-1, at random points (1e-14)."""
    rng = np.random.default_rng(6)
    k = 2000
    a, b, a_s, b_s = (rng.uniform(-2, 2, k) for _ in range(4))
    w, w_s = rng.uniform(-0.95, 0.95, k), rng.uniform(-0.95, 0.95, k)
    for rflo, reference in (
        (rflo_field(a, b, w, a_s, b_s, w_s, a, w), bptt_field(a, b, w, a_s, b_s, w_s)),
        (rflo_field(a, b, w, a_s, b_s, w_s, a, 0.0 * w), tbptt1_field(a, b, w, a_s, b_s, w_s)),
    ):
        for got, want in zip(rflo, reference):
            assert np.max(np.abs(got - want)) < 1e-14 * np.max(np.abs(want))
    # and the special case is not trivially true: a mismatched w_hat changes the field
    moved = rflo_field(a, b, w, a_s, b_s, w_s, a, 0.5 * w)[2]
    assert np.max(np.abs(moved - bptt_field(a, b, w, a_s, b_s, w_s)[2])) > 1e-2


def test_rotated_matrices_of_aligned_params_are_the_mode_matrices():
    bases, student, _, _ = _matrices(seed=3)
    A_bar, B_bar, W_bar = rotated_matrices(student, bases)
    np.testing.assert_allclose(W_bar, np.diag(STUDENT0.w), atol=1e-14)
    np.testing.assert_allclose(np.diagonal(A_bar), STUDENT0.a, atol=1e-14)
    np.testing.assert_allclose(np.diagonal(B_bar), STUDENT0.b, atol=1e-14)
