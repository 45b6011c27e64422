"""Learning order of a mode-aligned teacher's modes by a non-aligned student (docs/theory.md §5; the
poster of Williams, Payeur & Lajoie 2026, arXiv:2606.00243, panel C).

Oracles: the closed-form per-mode loss L = 1/2 [a^2 b^2 S - 2 a b a* b* C + a*^2 b*^2 S*], with
S = 1/(1 - w^2), C = 1/(1 - w w*), S* = 1/(1 - w*^2) (for mode_losses on an aligned student), the
per-mode ODEs (docs/theory.md, "The setting") integrated by solve_ivp (predicted half-times), and
matrix population GD (measured half-times). Teacher: n = m = o = 3, p* = a*b* = (2, 1, 0.4),
w* = (0.5, -0.4, 0.3).
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.errors import TheoryError
from neuromorph.theory import (
    LinearRNN,
    ModeFeedback,
    ModeValues,
    RFLOFeedback,
    Rule,
    aligned_feedback,
    aligned_rnn,
    population_gd,
    random_bases,
    random_linear_rnn,
)
from neuromorph.theory.ordering import (
    active_modes,
    closed_form_mode_loss,
    effective_feedback_modes,
    measured_half_times,
    mode_losses,
    mode_order,
    predicted_half_times,
    saddle_escape_scale,
)

TEACHER = ModeValues(a=np.array([1.5, -1.0, 0.8]), b=np.array([4 / 3, -1.0, 0.5]), w=np.array([0.5, -0.4, 0.3]))
SCALE = 0.05  # the student starts at 5% of a random_linear_rnn
LR, STEPS, EVERY = 0.02, 500, 5  # learning time 10; the weakest mode is half-learned by t ~ 6.6


def _non_aligned(seed: int = 0):
    """Teacher bases and a small non-aligned student, both from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    bases = random_bases(3, 3, 3, rng)
    s = random_linear_rnn(3, 3, 3, rng)
    return rng, bases, LinearRNN(A=SCALE * s.A, B=SCALE * s.B, W=SCALE * s.W)


def test_non_aligned_bptt_student_learns_modes_in_predicted_order():
    """Seed 0: predicted half-times (1.527, 4.061, 5.895), measured (1.569, 4.315, 6.555).

    Over seeds 0-59 the order agreed every time; the strongest mode's half-time is within 6.3% of
    the ODE (median 2%), the weakest mode is often late (median +24%) because it competes with the
    others for hidden directions.
    """
    _, bases, student = _non_aligned(0)
    result = mode_order(Rule.BPTT, student, TEACHER, bases, LR, STEPS, record_every=EVERY)
    np.testing.assert_array_equal(result.modes, [0, 1, 2])
    np.testing.assert_array_equal(result.predicted_order, [0, 1, 2])  # strongest p* first
    np.testing.assert_array_equal(result.measured_order, result.predicted_order)
    assert result.agrees
    assert abs(result.measured[0] / result.predicted[0] - 1.0) < 0.05
    np.testing.assert_allclose(result.measured, [1.569, 4.315, 6.555], atol=5e-3)
    assert result.losses.shape == (STEPS // EVERY + 1, 3)
    np.testing.assert_allclose(result.times, LR * EVERY * np.arange(STEPS // EVERY + 1))


def test_measured_half_times_match_mode_order_and_loss_curves():
    _, bases, student = _non_aligned(0)
    snapshots = population_gd(Rule.BPTT, student, aligned_rnn(TEACHER, bases), LR, STEPS, record_every=EVERY)
    times = LR * EVERY * np.arange(len(snapshots))
    measured = measured_half_times(times, snapshots, TEACHER, bases)
    result = mode_order(Rule.BPTT, student, TEACHER, bases, LR, STEPS, record_every=EVERY)
    np.testing.assert_allclose(measured, result.measured, rtol=1e-12)


def test_mode_losses_equal_closed_form_for_an_aligned_student():
    """float64, 2000 lags: the truncated kernel sum equals the closed-form per-mode loss to 1e-10."""
    bases = random_bases(3, 3, 3, np.random.default_rng(3))
    for state in (
        ModeValues(a=np.array([0.5, -0.6, 0.8]), b=np.array([0.6, 0.8, -0.5]), w=np.array([0.0, 0.3, -0.4])),
        ModeValues(a=np.array([-1.2, 0.2, 0.1]), b=np.array([0.3, -2.0, 0.9]), w=np.array([0.85, -0.9, 0.6])),
    ):
        losses = mode_losses(aligned_rnn(state, bases), TEACHER, bases, n_lags=2000)
        np.testing.assert_allclose(losses, closed_form_mode_loss(state, TEACHER), rtol=1e-10)
    # the teacher itself has zero loss on every mode
    assert np.max(mode_losses(aligned_rnn(TEACHER, bases), TEACHER, bases)) < 1e-28


def test_frozen_teacher_modes_are_skipped():
    """n = 4 > m = o = 3: mode 3 has a* = b* = 0 and is not reported."""
    teacher = ModeValues(a=np.r_[TEACHER.a, 0.0], b=np.r_[TEACHER.b, 0.0], w=np.r_[TEACHER.w, 0.7])
    rng = np.random.default_rng(4)
    bases = random_bases(4, 3, 3, rng)
    np.testing.assert_array_equal(active_modes(teacher), [0, 1, 2])
    assert mode_losses(random_linear_rnn(5, 3, 3, rng), teacher, bases).shape == (3,)


def test_aligned_student_half_times_converge_to_the_ode_at_order_eta():
    """Aligned student in the teacher's bases (a = b = 0.05 sign-matched, w = 0): exact chain.

    Measured/predicted - 1 = (0.018, 0.008, 0.003) at eta = 0.02 and halves with eta (O(eta) Euler).
    """
    bases = random_bases(3, 3, 3, np.random.default_rng(1))
    init = ModeValues(SCALE * np.sign(TEACHER.a), SCALE * np.sign(TEACHER.b), np.zeros(3))
    student = aligned_rnn(init, bases)
    np.testing.assert_allclose(saddle_escape_scale(student, TEACHER, bases), SCALE, rtol=1e-12)
    result = mode_order(Rule.BPTT, student, TEACHER, bases, LR, STEPS, record_every=1)
    np.testing.assert_allclose(result.predicted, [1.4881, 2.6575, 5.4394], atol=1e-3)
    rel = result.measured / result.predicted - 1.0
    assert np.all(rel > 0) and np.all(rel < 0.025)


def test_rflo_aligned_feedback_prediction_is_exact_in_the_aligned_case():
    bases = random_bases(3, 3, 3, np.random.default_rng(1))
    init = ModeValues(SCALE * np.sign(TEACHER.a), SCALE * np.sign(TEACHER.b), np.zeros(3))
    feedback = aligned_feedback(bases, np.array([0.8, -1.0, 1.2]), np.full(3, 0.5))
    result = mode_order(Rule.RFLO, aligned_rnn(init, bases), TEACHER, bases, 0.01, 300, feedback, record_every=1)
    np.testing.assert_allclose(result.measured, result.predicted, rtol=8e-3)  # O(eta): 4e-3
    np.testing.assert_array_equal(result.measured_order, result.predicted_order)


def test_effective_feedback_modes_for_a_non_aligned_rflo_student():
    """Seed 0 RFLO: with â_i = ±||Â^T u*_i|| the ODE predicts (0.600, 0.902, 1.406), measured
    (0.605, 0.907, 1.817). The teacher-basis â of feedback_mode_values has â_0 ~ 0 for this seed,
    so that prediction never learns mode 0 (26/30 vs 15/30 seeds with the right order)."""
    rng, bases, student = _non_aligned(0)
    feedback = RFLOFeedback(A_hat=rng.standard_normal((3, 3)) / np.sqrt(3), decay=0.5)
    eff = effective_feedback_modes(feedback, TEACHER, bases)
    np.testing.assert_allclose(eff.w_hat, 0.5, rtol=1e-12)  # exact for a scalar decay
    np.testing.assert_allclose(np.abs(eff.a_hat), np.linalg.norm(feedback.A_hat.T @ bases.U, axis=0))
    np.testing.assert_array_equal(np.sign(eff.a_hat), np.sign(TEACHER.a))
    result = mode_order(Rule.RFLO, student, TEACHER, bases, LR, STEPS, feedback, record_every=EVERY, feedback_modes=eff)
    assert result.agrees
    np.testing.assert_allclose(result.measured[:2], result.predicted[:2], rtol=0.02)


def test_theory_errors_name_the_problem():
    with pytest.raises(TheoryError, match=r"teacher mode 2 never falls below half.*try t_max = 12"):
        predicted_half_times(Rule.BPTT, TEACHER, SCALE, t_max=3.0)
    with pytest.raises(TheoryError, match="init_scale"):
        predicted_half_times(Rule.BPTT, TEACHER, 0.0)
    with pytest.raises(TheoryError, match="ModeFeedback"):
        predicted_half_times(Rule.RFLO, TEACHER, SCALE)
    _, bases, student = _non_aligned(0)
    with pytest.raises(TheoryError, match=r"teacher mode \d never falls below half.*more steps"):
        mode_order(Rule.BPTT, student, TEACHER, bases, LR, 50, record_every=EVERY)
    with pytest.raises(TheoryError, match="snapshots"):
        measured_half_times(np.zeros(3), [student], TEACHER, bases)
    with pytest.raises(TheoryError, match="nothing to learn"):
        mode_losses(student, ModeValues(np.zeros(3), np.ones(3), np.zeros(3)), bases)
    with pytest.raises(TheoryError, match="must match"):
        mode_losses(random_linear_rnn(3, 2, 3, np.random.default_rng(0)), TEACHER, bases)
    with pytest.raises(TheoryError, match="n_lags"):
        mode_losses(student, TEACHER, bases, n_lags=0)
    with pytest.raises(TheoryError, match="lr > 0"):
        mode_order(Rule.BPTT, student, TEACHER, bases, -0.1, STEPS)


def test_larger_feedback_gain_speeds_up_the_rflo_prediction():
    """â multiplies the b and w flows of RFLO (docs/theory.md, "The setting"), so a larger |â| learns every
    mode sooner."""
    slow = predicted_half_times(Rule.RFLO, TEACHER, SCALE, ModeFeedback(0.5 * np.sign(TEACHER.a), np.zeros(3)))
    fast = predicted_half_times(Rule.RFLO, TEACHER, SCALE, ModeFeedback(2.0 * np.sign(TEACHER.a), np.zeros(3)))
    assert np.all(fast < slow)
