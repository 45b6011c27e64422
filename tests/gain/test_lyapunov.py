"""Lyapunov spectrum by QR iteration and the gradient-flossing loss, float64 (docs/gain.md, "Lyapunov
spectrum and flossing").

The QR algorithm follows Vogt, Puelma Touzel, Shlizerman & Lajoie 2022 (Front. Appl. Math. Stat.
8:818799); flossing follows Engelken 2023 (NeurIPS, "Gradient Flossing").
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuromorph.analysis import (
    FlossingSpec,
    flossing_loss,
    lyapunov_spectrum,
    preflossing,
    rate_jacobians,
    rate_preactivations,
    spectrum_of_run,
)
from neuromorph.dynamics import Activation, RateParameters, ReadoutParameters
from neuromorph.errors import ConfigError
from neuromorph.network import InitSpec, NetworkSpec, init_parameters
from neuromorph.tasks import RomoTask

D = torch.float64


def _net(n=16, gain=0.5, activation=Activation.RELU, seed=0):
    spec = NetworkSpec(1, n, 2, RateParameters(tau=0.1, activation=activation), ReadoutParameters(tau_out=0.0), dt=0.05)
    params, _ = init_parameters(spec, InitSpec(w_rec_gain=gain, w_in_gain=1.0), torch.Generator().manual_seed(seed), D)
    return spec, params


def test_linear_map_gives_sorted_log_abs_eigenvalues():
    rng = np.random.default_rng(0)
    n = 6
    p = rng.standard_normal((n, n))
    eig = np.array([1.3, -0.9, 0.7, 0.5, -0.3, 0.1])  # distinct moduli, mixed signs
    m = torch.as_tensor(p @ np.diag(eig) @ np.linalg.inv(p), dtype=D)
    lam = lyapunov_spectrum((m for _ in range(2000)), warmup=50)
    want = np.sort(np.log(np.abs(eig)))[::-1]
    assert np.max(np.abs(lam.numpy() - want)) < 1e-3
    top = lyapunov_spectrum((m for _ in range(2000)), k=2, warmup=50)
    assert np.max(np.abs(top.numpy() - want[:2])) < 1e-3


def test_zero_gain_gives_log_alpha():
    spec, params = _net(gain=0.0)
    batch = RomoTask().sample(8, torch.Generator().manual_seed(1))
    lam = spectrum_of_run(spec, params, batch.inputs.to(D), warmup=5)
    alpha = spec.neuron.alpha(spec.dt)
    assert torch.max(torch.abs(lam - math.log(alpha))) < 1e-6


@pytest.mark.parametrize("activation", [Activation.RELU, Activation.TANH])
def test_sum_of_exponents_is_mean_log_abs_det(activation):
    spec, params = _net(gain=1.5, activation=activation, seed=2)
    x = RomoTask().sample(4, torch.Generator().manual_seed(3)).inputs.to(D)
    u = rate_preactivations(spec, params, x)
    jac = rate_jacobians(spec, params.w_rec, u[:-1])  # (T, B, N, N)
    warmup = 7
    lam = lyapunov_spectrum(jac, warmup=warmup)
    logdet = torch.linalg.slogdet(jac[warmup:]).logabsdet.mean()
    assert abs(float(lam.sum() - logdet)) < 1e-8
    assert torch.all(lam[:-1] >= lam[1:] - 0.05)  # roughly sorted (finite-time estimate)


def test_jacobian_is_the_autograd_jacobian_of_the_step():
    spec, params = _net(n=5, gain=1.2, activation=Activation.TANH, seed=4)
    x = torch.randn(3, 1, 1, generator=torch.Generator().manual_seed(0), dtype=D)
    u = rate_preactivations(spec, params, x)
    a = spec.neuron.leak(spec.dt)
    step = lambda v: (1 - a) * v + a * (params.w_rec @ torch.tanh(v) + params.w_in @ x[2, 0] + params.bias)
    auto = torch.autograd.functional.jacobian(step, u[2, 0])
    assert torch.allclose(rate_jacobians(spec, params.w_rec, u[2, 0]), auto, atol=1e-14)
    assert torch.allclose(step(u[2, 0]), u[3, 0], atol=1e-14)


def test_flossing_loss_is_differentiable_and_one_adam_step_decreases_it():
    spec, params = _net(n=16, gain=0.5)
    x = RomoTask().sample(8, torch.Generator().manual_seed(5)).inputs.to(D)
    floss = FlossingSpec(k=8, warmup=5)
    w = params.w_rec.clone().requires_grad_(True)
    loss, lam = flossing_loss(spec, params._replace(w_rec=w), x, floss)
    assert lam[0] < 0  # contracting at g = 0.5
    loss.backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    numeric = torch.zeros(3)
    for i, (r, c) in enumerate([(0, 1), (3, 7), (10, 2)]):  # finite differences through the QR iteration
        e = torch.zeros_like(w)
        e[r, c] = 1e-6
        plus, _ = flossing_loss(spec, params._replace(w_rec=params.w_rec + e), x, floss)
        minus, _ = flossing_loss(spec, params._replace(w_rec=params.w_rec - e), x, floss)
        numeric[i] = (plus - minus) / 2e-6
        assert abs(numeric[i] - w.grad[r, c]) < 1e-6 * max(1.0, abs(float(numeric[i])))
    opt = torch.optim.Adam([w], lr=1e-3)
    opt.step()
    after, _ = flossing_loss(spec, params._replace(w_rec=w.detach()), x, floss)
    assert after < loss


def test_local_flossing_equals_full_for_relu_but_not_tanh():
    x = RomoTask().sample(4, torch.Generator().manual_seed(6)).inputs.to(D)
    grads = {}
    for activation in (Activation.RELU, Activation.TANH):
        spec, params = _net(n=8, gain=1.0, activation=activation, seed=7)
        for local in (True, False):
            w = params.w_rec.clone().requires_grad_(True)
            loss, _ = flossing_loss(spec, params._replace(w_rec=w), x, FlossingSpec(k=4, local=local))
            grads[activation, local] = torch.autograd.grad(loss, w)[0]
    assert torch.allclose(grads[Activation.RELU, True], grads[Activation.RELU, False], atol=1e-14)
    assert not torch.allclose(grads[Activation.TANH, True], grads[Activation.TANH, False], atol=1e-6)


def test_preflossing_moves_the_top_exponents_towards_zero_and_only_w_rec():
    spec, params = _net(n=16, gain=0.5)
    task = RomoTask()
    floss = FlossingSpec(iterations=30, lr=3e-3, k=4, batch_size=8)
    new, history = preflossing(spec, params, task.sample, floss, torch.Generator().manual_seed(0))
    assert len(history) == 30 and history[-1] < 0.7 * history[0]
    for name in ("w_in", "w_out", "bias", "b_out"):
        assert torch.equal(getattr(new, name), getattr(params, name))
    x = task.sample(16, torch.Generator().manual_seed(9)).inputs.to(D)
    before = spectrum_of_run(spec, params, x, k=4, warmup=5)
    after = spectrum_of_run(spec, new, x, k=4, warmup=5)
    assert after[0] > before[0]


def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError, match="need 1 <= k"):
        lyapunov_spectrum([torch.eye(3)], k=4)
    with pytest.raises(ConfigError, match="warmup"):
        lyapunov_spectrum([torch.eye(3)], warmup=1)
    spec = NetworkSpec(1, 4, 2)  # LIF
    params, _ = init_parameters(spec, InitSpec(), torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="rate units"):
        spectrum_of_run(spec, params, torch.zeros(3, 1, 1))
    with pytest.raises(ConfigError, match="flossing"):
        FlossingSpec(lr=0.0)
