"""Student–teacher setup: generators, mode extraction round trips and validation errors.

The model and its alignment assumptions are those of Williams, Payeur & Lajoie 2026 (arXiv:2606.00243),
as summarised in docs/theory.md, "The setting".
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.errors import NeuromorphError, TheoryError
from neuromorph.theory import (
    LinearRNN,
    ModeValues,
    RFLOFeedback,
    Rule,
    aligned_feedback,
    aligned_rnn,
    data_aligned_setup,
    feedback_mode_values,
    integrate_mode_odes,
    mode_aligned_setup,
    mode_values,
    off_diagonal_leakage,
    population_gradients,
    random_bases,
    random_linear_rnn,
    random_orthogonal,
    rectangular_diag,
    spectral_radius,
    validate_rnn,
    validate_student_teacher,
)


def test_random_orthogonal_is_orthogonal_and_seeded():
    Q = random_orthogonal(5, np.random.default_rng(0))
    np.testing.assert_allclose(Q.T @ Q, np.eye(5), atol=1e-14)
    np.testing.assert_array_equal(Q, random_orthogonal(5, np.random.default_rng(0)))


@pytest.mark.parametrize("dims", [(3, 3, 3), (5, 3, 2), (3, 4, 5)])
def test_aligned_rnn_round_trips_through_mode_values(dims):
    n, m, o = dims
    rng = np.random.default_rng(1)
    bases = random_bases(n, m, o, rng)
    a = np.zeros(n)
    b = np.zeros(n)
    a[: min(o, n)] = rng.uniform(0.5, 1.5, min(o, n))
    b[: min(m, n)] = -rng.uniform(0.5, 1.5, min(m, n))
    modes = ModeValues(a=a, b=b, w=rng.uniform(-0.8, 0.8, n))
    params = aligned_rnn(modes, bases)
    assert params.A.shape == (o, n) and params.B.shape == (n, m) and params.W.shape == (n, n)
    assert off_diagonal_leakage(params, bases) < 1e-14
    back = mode_values(params, bases)
    for got, want in ((back.a, a), (back.b, b), (back.w, modes.w)):
        np.testing.assert_allclose(got, want, atol=1e-14)


def test_data_aligned_setup_shares_bases_and_is_stable():
    setup = data_aligned_setup(4, 3, 2, np.random.default_rng(2), w_max=0.8)
    assert setup.student_bases is setup.teacher_bases
    assert off_diagonal_leakage(setup.student, setup.student_bases) < 1e-14
    assert off_diagonal_leakage(setup.teacher, setup.student_bases) < 1e-14
    assert spectral_radius(setup.teacher.W) <= 0.8


def test_mode_aligned_teacher_is_not_aligned_with_student_bases():
    setup = mode_aligned_setup(4, 3, 3, np.random.default_rng(3))
    assert off_diagonal_leakage(setup.teacher, setup.teacher_bases) < 1e-14
    assert off_diagonal_leakage(setup.student, setup.student_bases) < 1e-14
    assert off_diagonal_leakage(setup.teacher, setup.student_bases) > 1e-3


def test_aligned_feedback_round_trips():
    rng = np.random.default_rng(4)
    bases = random_bases(3, 3, 3, rng)
    a_hat, w_hat = np.array([0.8, -1.0, 1.2]), np.array([0.0, 0.7, -0.4])
    got_a, got_w = feedback_mode_values(aligned_feedback(bases, a_hat, w_hat), bases)
    np.testing.assert_allclose(got_a, a_hat, atol=1e-14)
    np.testing.assert_allclose(got_w, w_hat, atol=1e-14)


def test_teacher_with_spectral_radius_at_least_one_is_rejected():
    rng = np.random.default_rng(5)
    teacher = random_linear_rnn(4, 2, 2, rng, radius=0.5)
    unstable = LinearRNN(A=teacher.A, B=teacher.B, W=teacher.W * 2.2)  # rho = 1.1
    with pytest.raises(TheoryError, match=r"teacher: spectral radius of W is 1.1 >= 1.*rescale W"):
        validate_rnn(unstable, name="teacher")
    boundary = LinearRNN(A=teacher.A, B=teacher.B, W=np.diag([1.0, 0.5, -0.2, 0.0]))  # rho = 1 exactly
    with pytest.raises(TheoryError, match="spectral radius of W is 1 >= 1"):
        validate_rnn(boundary, name="teacher")
    student = random_linear_rnn(4, 2, 2, rng)
    with pytest.raises(TheoryError, match="teacher: spectral radius"):
        population_gradients(Rule.BPTT, student, LinearRNN(A=teacher.A, B=teacher.B, W=1.5 * teacher.W / 0.5))


def test_inconsistent_dimensions_are_rejected():
    rng = np.random.default_rng(6)
    good = random_linear_rnn(4, 3, 2, rng)
    with pytest.raises(TheoryError, match="inconsistent dimensions.*A needs 4 columns"):
        validate_rnn(LinearRNN(A=np.zeros((2, 5)), B=good.B, W=good.W))
    with pytest.raises(TheoryError, match="W must be square"):
        validate_rnn(LinearRNN(A=good.A, B=good.B, W=np.zeros((4, 3))))
    with pytest.raises(TheoryError, match="2-D matrix"):
        validate_rnn(LinearRNN(A=good.A, B=np.zeros(4), W=good.W))
    other = random_linear_rnn(4, 2, 2, rng)
    with pytest.raises(TheoryError, match=r"\(m, o\) = \(3, 2\) but the teacher has \(2, 2\)"):
        validate_student_teacher(good, other)


def test_invalid_feedback_and_modes_are_rejected():
    rng = np.random.default_rng(7)
    student, teacher = random_linear_rnn(4, 3, 2, rng), random_linear_rnn(4, 3, 2, rng)
    with pytest.raises(TheoryError, match=r"A_hat has shape \(4, 2\)"):
        population_gradients(Rule.RFLO, student, teacher, RFLOFeedback(A_hat=np.zeros((4, 2)), decay=0.5))
    with pytest.raises(TheoryError, match="never forget"):
        population_gradients(Rule.RFLO, student, teacher, RFLOFeedback(A_hat=np.zeros((2, 4)), decay=1.0))
    with pytest.raises(TheoryError, match="beyond index 1 must be 0"):
        rectangular_diag(np.array([1.0, 2.0, 3.0]), (2, 3))
    modes = ModeValues(a=np.ones(1), b=np.ones(1), w=np.array([1.2]))
    with pytest.raises(TheoryError, match=r"\|w\| >= 1"):
        integrate_mode_odes(Rule.BPTT, modes, modes, np.linspace(0, 1, 3))


def test_theory_error_is_a_neuromorph_value_error():
    assert issubclass(TheoryError, NeuromorphError) and issubclass(TheoryError, ValueError)
