"""The equilibrium-propagation gradient property, two-phase and temporally local (float64).

For a Hopfield energy, the two-phase EP estimate (1/beta)[dE/dtheta(s_beta) - dE/dtheta(s_0)]
(Scellier & Bengio 2017) approaches the true gradient of the cost with error O(beta), and the
temporally local drift with long random phases approaches it with error O(tau/T) (docs/contrastive.md,
"Measured").

Oracle: ∇θ C(s0(θ)) by autograd through 300 free relaxation steps (dt/τ = 0.5); 300 and 600 steps
agree to machine precision for this network, so the oracle is the fixed point's implicit gradient.
"""

import dataclasses

import numpy as np
import pytest
import torch

from neuromorph.contrastive import models
from neuromorph.contrastive.estimators import ep_estimate, local_drift, true_gradient
from neuromorph.contrastive.phases import Telegraph

N_RELAX = 300


@pytest.fixture(scope="module")
def problem():
    gen = torch.Generator().manual_seed(3)
    net = models.NetSpec(3, 5, 2, "ep", beta=0.01, dt=0.5)
    p = models.init_params(net, gen, 1.5, torch.float64)
    p["b1"] = 0.3 * torch.randn(5, generator=gen, dtype=torch.float64)
    x = torch.rand(4, 3, generator=gen, dtype=torch.float64)
    y = torch.eye(2, dtype=torch.float64)[[0, 1, 1, 0]]
    truth = true_gradient(net, p, x, y, N_RELAX)
    assert torch.allclose(truth, true_gradient(net, p, x, y, 2 * N_RELAX), rtol=1e-10, atol=1e-13)
    return net, p, x, y, truth


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def test_check21_two_phase_ep_error_is_order_beta(problem):
    net, p, x, y, truth = problem
    errors = [_rel(ep_estimate(dataclasses.replace(net, beta=b), p, x, y, N_RELAX), truth) for b in (1e-2, 1e-3)]
    assert errors[0] < 0.05
    assert 5 < errors[0] / errors[1] < 20  # first order in β: ten times smaller β, ten times smaller error


def test_check21_energy_gradient_matches_autograd(problem):
    """The dynamics descend E: the hand-coded ∂E/∂s equals autograd's."""
    _, p, x, _, _ = problem
    state = models.RateState(torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64))
    leaves = models.RateState(*(s.clone().requires_grad_(True) for s in state))
    grads = torch.autograd.grad(models.energy(p, x, leaves).sum(), list(leaves))
    for hand, auto in zip(models.energy_grad_state(p, x, state), grads):
        torch.testing.assert_close(hand, auto)


def test_check21_temporally_local_drift_approaches_the_gradient(problem):
    """Long random (telegraph) phases, frozen θ: the drift of s_t g_t/β tends to ∇C; the error is O(τ/T)."""
    net, p, x, y, truth = problem
    errs = []
    for mean in (25, 200):
        drift = local_drift(net, p, x, y, Telegraph(mean, mean), runs=8, n_steps=3000,
                            gen=np.random.default_rng(21), burn_in=40)
        errs.append(_rel(drift, truth))
        cosine = float(drift @ truth / (drift.norm() * truth.norm()))
        assert cosine > 0.99
    assert errs[1] < 0.05  # β = 0.01 (1.5%) + τ/T = 2/200 steps
    assert errs[1] < errs[0]  # shorter phases: more of the time is transient
