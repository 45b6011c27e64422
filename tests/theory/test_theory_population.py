"""Closed-form population gradients vs the algorithms; hand-written BPTT vs autograd (docs/theory.md).

Oracles: the Stein-equation closed forms of the expected BPTT, tBPTT-1 and RFLO gradients (written out in
the docstring of neuromorph.theory.population; the algorithms run on the T*m unit impulses, spectral
radius <= 0.8, must match them to 1e-10), the truncated series definition of a Stein solution, and torch
autograd of 1/2 ||y_T - y*_T||^2 (float64, 1e-10; torch is used in this test only).
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.errors import TheoryError
from neuromorph.theory import (
    Activation,
    LinearRNN,
    RFLOFeedback,
    Rule,
    algorithm_gradients,
    aligned_feedback,
    data_aligned_setup,
    impulse_basis,
    linear_sequence_gradients,
    population_gradients,
    random_linear_rnn,
    stein,
)

T_IMPULSE = 150  # impulse-basis length T = 150 for networks of spectral radius <= 0.8


def _max_rel_err(g1, g2) -> float:
    return max(
        float(np.max(np.abs(getattr(g1, k) - getattr(g2, k))) / np.max(np.abs(getattr(g1, k))))
        for k in "ABW"
    )


def _non_aligned(seed: int, n: int = 4, m: int = 3, o: int = 2, n_teacher: int = 5):
    rng = np.random.default_rng(seed)
    student = random_linear_rnn(n, m, o, rng, radius=0.8)
    teacher = random_linear_rnn(n_teacher, m, o, rng, radius=0.8)
    A_hat = rng.standard_normal((o, n))
    return rng, student, teacher, A_hat


def test_stein_matches_truncated_series():
    rng = np.random.default_rng(0)
    L = 0.3 * rng.standard_normal((3, 3))
    R = 0.3 * rng.standard_normal((4, 4))
    Q = rng.standard_normal((3, 4))
    series = sum(np.linalg.matrix_power(L, k) @ Q @ np.linalg.matrix_power(R, k) for k in range(200))
    X = stein(L, R, Q)
    np.testing.assert_allclose(X, series, rtol=0, atol=1e-13 * np.abs(series).max())
    np.testing.assert_allclose(X, L @ X @ R + Q, rtol=0, atol=1e-13 * np.abs(X).max())


@pytest.mark.parametrize("rule", list(Rule), ids=lambda r: r.name)
@pytest.mark.parametrize("decay", [0.6, 0.0, "per_neuron"])
def test_check1_closed_form_equals_algorithm_non_aligned(rule, decay):
    """Algorithm on the T*m unit impulses == Stein closed form (tolerance 1e-10)."""
    rng, student, teacher, A_hat = _non_aligned(seed=1)
    d = rng.uniform(-0.9, 0.9, size=4) if decay == "per_neuron" else decay
    feedback = RFLOFeedback(A_hat=A_hat, decay=d)
    closed = population_gradients(rule, student, teacher, feedback)
    exact = algorithm_gradients(rule, student, teacher, impulse_basis(T_IMPULSE, 3), feedback)
    assert _max_rel_err(closed, exact) < 1e-10


@pytest.mark.parametrize("rule", list(Rule), ids=lambda r: r.name)
def test_check1_closed_form_equals_vectorised_sums_with_mode_dependent_decay(rule):
    """Data-aligned RFLO with a full decay matrix D = P diag(w_hat) P^T (no online trace exists)."""
    rng = np.random.default_rng(2)
    setup = data_aligned_setup(3, 3, 3, rng)
    feedback = aligned_feedback(setup.student_bases, np.array([0.8, -1.0, 1.2]), np.array([0.0, 0.7, -0.4]))
    closed = population_gradients(rule, setup.student, setup.teacher, feedback)
    exact = linear_sequence_gradients(rule, setup.student, setup.teacher, impulse_basis(T_IMPULSE, 3), feedback)
    assert _max_rel_err(closed, exact) < 1e-10


@pytest.mark.parametrize("rule", list(Rule), ids=lambda r: r.name)
def test_vectorised_sums_equal_step_by_step_algorithm(rule):
    """The fast path used by the SGD simulator equals the backward pass / online traces."""
    rng, student, teacher, A_hat = _non_aligned(seed=3)
    feedback = RFLOFeedback(A_hat=A_hat, decay=rng.uniform(0.0, 0.9, size=4))
    x = rng.standard_normal((17, 23, 3))
    slow = algorithm_gradients(rule, student, teacher, x, feedback)
    fast = linear_sequence_gradients(rule, student, teacher, x, feedback)
    assert _max_rel_err(slow, fast) < 1e-12


def test_impulse_basis_is_the_identity_sequence_set():
    basis = impulse_basis(4, 2)
    assert basis.shape == (8, 4, 2)
    np.testing.assert_array_equal(basis.reshape(8, 8), np.eye(8))


def test_rflo_with_true_feedback_and_zero_decay_equals_tbptt1():
    """At the algorithm level, RFLO with the true readout as feedback (A_hat = A) and decay D = 0 is tBPTT-1."""
    rng, student, teacher, _ = _non_aligned(seed=4)
    x = rng.standard_normal((9, 12, 3))
    rflo = algorithm_gradients(Rule.RFLO, student, teacher, x, RFLOFeedback(A_hat=student.A, decay=0.0))
    tbptt = algorithm_gradients(Rule.TBPTT1, student, teacher, x)
    assert _max_rel_err(tbptt, rflo) < 1e-13


def test_rflo_without_feedback_raises():
    _, student, teacher, _ = _non_aligned(seed=5)
    with pytest.raises(TheoryError, match="RFLOFeedback"):
        population_gradients(Rule.RFLO, student, teacher)
    with pytest.raises(TheoryError, match="RFLOFeedback"):
        algorithm_gradients(Rule.RFLO, student, teacher, np.zeros((1, 3, 3)))


def test_online_rflo_rejects_matrix_decay():
    _, student, teacher, A_hat = _non_aligned(seed=6)
    feedback = RFLOFeedback(A_hat=A_hat, decay=0.5 * np.eye(4))
    with pytest.raises(TheoryError, match="per-neuron decay"):
        algorithm_gradients(Rule.RFLO, student, teacher, np.zeros((1, 3, 3)), feedback)


@pytest.mark.parametrize("activation", list(Activation), ids=lambda a: a.name)
def test_check2_bptt_equals_torch_autograd(activation):
    """Hand-written BPTT == torch.autograd of sum_batch 1/2 ||y_T - y*_T||^2 (float64, 1e-10)."""
    torch = pytest.importorskip("torch")
    rng, student, teacher, _ = _non_aligned(seed=7)
    x = rng.standard_normal((5, 20, 3))
    ours = algorithm_gradients(Rule.BPTT, student, teacher, x, activation=activation)

    phi = {Activation.LINEAR: lambda u: u, Activation.TANH: torch.tanh}[activation]
    A, B, W = (torch.tensor(M, dtype=torch.float64, requires_grad=True) for M in (student.A, student.B, student.W))
    xt = torch.tensor(x, dtype=torch.float64)
    h = torch.zeros(x.shape[0], student.W.shape[0], dtype=torch.float64)
    h_star = torch.zeros(x.shape[0], teacher.W.shape[0], dtype=torch.float64)
    W_s, B_s = torch.tensor(teacher.W), torch.tensor(teacher.B)
    for t in range(x.shape[1]):
        h = phi(h @ W.T + xt[:, t] @ B.T)
        h_star = h_star @ W_s.T + xt[:, t] @ B_s.T
    loss = 0.5 * ((h @ A.T - h_star @ torch.tensor(teacher.A).T) ** 2).sum()
    loss.backward()
    reference = LinearRNN(A=A.grad.numpy(), B=B.grad.numpy(), W=W.grad.numpy())
    assert _max_rel_err(reference, ours) < 1e-10
