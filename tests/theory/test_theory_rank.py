"""Rank restriction of RFLO updates, with negative controls (docs/theory.md §4).

rank(W_k - W_0), rank(B_k - B_0) <= o for RFLO with fixed feedback, one scalar trace decay and linear
units; the negative controls (a per-neuron decay, tanh units, BPTT, tBPTT-1 with A learned) exceed rank o.
Setup: n = 8, m = 3, o = 2, non-aligned student and teacher, online
SGD (batch 32, T = 20, eta = 0.01), 150 steps, A learned.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.errors import TheoryError
from neuromorph.theory import (
    Activation,
    RFLOFeedback,
    Rule,
    feedback_residual,
    numerical_rank,
    random_linear_rnn,
    rank_diagnostics,
    sgd_train,
)

N, M, O = 8, 3, 2


def _setup():
    rng = np.random.default_rng(110)
    student = random_linear_rnn(N, M, O, rng, radius=0.6)
    teacher = random_linear_rnn(N, M, O, rng, radius=0.8)
    A_hat = rng.standard_normal((O, N)) / np.sqrt(N)  # same scale as A
    heterogeneous = rng.uniform(0.0, 0.9, N)
    return student, teacher, A_hat, heterogeneous


def _train(rule, feedback=None, activation=Activation.LINEAR, learn_A=True):
    student, teacher, _, _ = _setup()
    run = sgd_train(
        rule, student, teacher, np.random.default_rng(111), steps=150, lr=0.01, batch=32, T=20,
        feedback=feedback, activation=activation, learn_A=learn_A,
    )
    final = run.snapshots[-1]
    return student, final


@pytest.mark.parametrize("decay", [0.6, 0.0], ids=["lambda=0.6", "lambda=0"])
def test_check11_rflo_updates_have_rank_at_most_o(decay):
    """rank(W_k - W_0), rank(B_k - B_0) <= o (threshold 1e-9 sigma_max); residual outside span(r_i) < 1e-12."""
    _, _, A_hat, _ = _setup()
    student, final = _train(Rule.RFLO, RFLOFeedback(A_hat=A_hat, decay=decay))
    assert np.linalg.norm(final.A - student.A) > 0  # A was learned at the same time
    for delta in (final.W - student.W, final.B - student.B):
        diag = rank_diagnostics(delta, A_hat)
        assert diag.rank <= O
        assert diag.residual < 1e-12
        assert diag.singular_values[0] > 1e-4  # the update is not trivially zero


@pytest.mark.parametrize(
    "name", ["heterogeneous decay", "tanh units", "BPTT", "tBPTT-1 with A learned"]
)
def test_check11_negative_controls_exceed_rank_o(name):
    student0, _, A_hat, heterogeneous = _setup()
    runs = {
        "heterogeneous decay": lambda: _train(Rule.RFLO, RFLOFeedback(A_hat, heterogeneous)),
        "tanh units": lambda: _train(Rule.RFLO, RFLOFeedback(A_hat, 0.6), activation=Activation.TANH),
        "BPTT": lambda: _train(Rule.BPTT),
        "tBPTT-1 with A learned": lambda: _train(Rule.TBPTT1),
    }
    student, final = runs[name]()
    reference = A_hat if name in ("heterogeneous decay", "tanh units") else student0.A
    for delta in (final.W - student.W, final.B - student.B):
        diag = rank_diagnostics(delta, reference)
        assert diag.rank > O
        assert diag.residual > 1e-3


def test_tbptt1_with_frozen_readout_is_restricted_to_span_of_A():
    """Each tBPTT-1 increment is A^T e (x) h, so with a frozen A it is rank-restricted to span(A^T)."""
    student, final = _train(Rule.TBPTT1, learn_A=False)
    np.testing.assert_array_equal(final.A, student.A)
    for delta in (final.W - student.W, final.B - student.B):
        diag = rank_diagnostics(delta, student.A)
        assert diag.rank <= O and diag.residual < 1e-12


def test_rank_helpers_on_known_matrices():
    rng = np.random.default_rng(112)
    r = rng.standard_normal((2, 6))
    low = r.T @ rng.standard_normal((2, 5))  # rank 2, columns in span of the rows of r
    assert numerical_rank(low) == 2
    assert feedback_residual(low, r) < 1e-14
    full = rng.standard_normal((6, 5))
    assert numerical_rank(full) == 5
    assert feedback_residual(full, r) > 0.1
    assert numerical_rank(np.zeros((3, 3))) == 0
    with pytest.raises(TheoryError, match="exactly zero"):
        feedback_residual(np.zeros((6, 2)), r)
    with pytest.raises(TheoryError, match="rows but A_hat has"):
        feedback_residual(np.ones((5, 2)), r)
