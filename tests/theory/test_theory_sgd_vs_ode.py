"""Slow: SGD with sampled Gaussian inputs follows the per-mode ODEs (docs/theory.md §1, SGD rows).

Batch 256, T = 50, eta = 2e-3, t_end = 20 (10 000 SGD steps per rule), data-aligned n = m = o = 3,
RFLO trace decay 0.5 (D = 0.5 I is aligned automatically). Tolerance 3e-2 on the metric
max_t |theta_sim - theta_ode| / max_t |theta_ode| over modes and parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.theory import (
    ModeFeedback,
    ModeValues,
    RFLOFeedback,
    Rule,
    aligned_feedback,
    aligned_rnn,
    integrate_mode_odes,
    max_relative_deviation,
    mode_trajectory,
    random_bases,
    sgd_train,
)

TEACHER = ModeValues(a=np.array([1.0, -0.8, 1.2]), b=np.array([0.9, 1.1, -0.7]), w=np.array([0.6, -0.5, 0.2]))
STUDENT0 = ModeValues(a=np.array([0.5, -0.6, 0.8]), b=np.array([0.6, 0.8, -0.5]), w=np.array([0.0, 0.3, -0.4]))
A_HAT = np.array([0.8, -1.0, 1.2])
DECAY = 0.5


@pytest.mark.slow
@pytest.mark.parametrize("rule", list(Rule), ids=lambda r: r.name)
def test_check5_sgd_follows_mode_ode(rule):
    lr, t_end = 2e-3, 20.0
    bases = random_bases(3, 3, 3, np.random.default_rng(50))
    feedback = RFLOFeedback(A_hat=aligned_feedback(bases, A_HAT, np.zeros(3)).A_hat, decay=DECAY)
    run = sgd_train(
        rule, aligned_rnn(STUDENT0, bases), aligned_rnn(TEACHER, bases), np.random.default_rng(51),
        steps=int(round(t_end / lr)), lr=lr, batch=256, T=50, feedback=feedback, record_every=50,
    )
    sgd = mode_trajectory(run.snapshots, bases, lr * run.steps)
    ode = integrate_mode_odes(rule, STUDENT0, TEACHER, sgd.t, ModeFeedback(A_HAT, np.full(3, DECAY)))
    assert max_relative_deviation(sgd, ode) < 3e-2
