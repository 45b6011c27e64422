"""Presynaptic/readout traces and the reverse scan against explicit sums and autograd (docs/eprop.md).

Closed forms are evaluated as explicit double sums in float64 (a different
order of operations from the recursive filters); tolerance 1e-12 relative to
the largest entry. The readout-filtered eligibility test uses autograd through the step functions
(reset and recurrence absent, so e-prop is exact); tolerance 1e-10 relative.
"""

import math

import pytest
import torch

from neuromorph.dynamics import (
    ALIFParameters,
    LIFParameters,
    ReadoutParameters,
    lif_initial_state,
    lif_step,
    readout_step,
)
from neuromorph.plasticity.traces import PreTraces, pre_trace_step, reverse_scan, trace_constants, zero_traces

F64 = torch.float64
DT = 1e-3
T, B, N_IN, N_REC = 25, 2, 3, 4


def close(got, want, tol=1e-12):
    return float((got - want).abs().max()) <= tol * max(1.0, float(want.abs().max()))


def causal_filter(u, decay, scale):
    """F_t = sum_{s<=t} decay^(t-s) * scale * u_s, as an explicit sum over the time axis (dim 0)."""
    return torch.stack([sum(decay ** (t - s) * scale * u[s] for s in range(t + 1)) for t in range(u.shape[0])])


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("adaptive", [False, True])
def test_trace_constants(scaled, adaptive):
    common = dict(tau_mem=30e-3, input_scaling=scaled)
    neuron = ALIFParameters(**common, tau_adapt=0.5, beta=(0.0, 0.1, 0.2, 0.3)) if adaptive else LIFParameters(**common)
    c = trace_constants(neuron, ReadoutParameters(tau_out=10e-3, output_scaling=scaled), DT, N_REC, F64)
    alpha, kappa = math.exp(-1 / 30), math.exp(-1 / 10)
    assert c.alpha == pytest.approx(alpha, rel=1e-15) and c.kappa == pytest.approx(kappa, rel=1e-15)
    assert c.s_in == (pytest.approx(1 - alpha, rel=1e-15) if scaled else 1.0)
    assert c.s_out == (pytest.approx(1 - kappa, rel=1e-15) if scaled else 1.0)
    assert c.adaptive is adaptive
    if adaptive:
        assert c.rho == pytest.approx(math.exp(-1 / 500), rel=1e-15)
        assert c.beta.dtype == F64 and torch.equal(c.beta, torch.tensor([0.0, 0.1, 0.2, 0.3], dtype=F64))
    else:
        assert c.rho is None and c.beta is None


@pytest.mark.parametrize("scaled", [False, True])
def test_pre_trace_step_matches_closed_form_filters(scaled):
    neuron = LIFParameters(tau_mem=20e-3, input_scaling=scaled)
    c = trace_constants(neuron, ReadoutParameters(tau_out=15e-3, output_scaling=scaled), DT, N_REC, F64)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(T, B, N_IN, generator=g, dtype=F64)
    z = (torch.rand(T, B, N_REC, generator=g, dtype=F64) < 0.4).to(F64)
    tr, hist = zero_traces(B, N_IN, N_REC, F64), []
    for t in range(T):
        z_prev = z[t - 1] if t > 0 else torch.zeros(B, N_REC, dtype=F64)
        tr = pre_trace_step(tr, c, x[t], z_prev, z[t])
        hist.append(tr)
    got = PreTraces(*(torch.stack(h) for h in zip(*hist)))
    # P^rec_t uses z_{t-1}: it is the filter of z shifted one step later, z_{-1} = 0
    z_shifted = torch.cat([torch.zeros(1, B, N_REC, dtype=F64), z[:-1]])
    ones = torch.ones(T, B, 1, dtype=F64)
    assert close(got.inp, causal_filter(x, c.alpha, c.s_in))
    assert close(got.rec, causal_filter(z_shifted, c.alpha, c.s_in))
    assert close(got.out, causal_filter(z, c.kappa, c.s_out))
    # geometric sums: F_t(1) = s (1 - a^(t+1)) / (1 - a), t = 0..T-1
    steps = torch.arange(T, dtype=F64).view(T, 1, 1)
    assert close(got.bias, causal_filter(ones, c.alpha, c.s_in))
    assert close(got.bias, c.s_in * (1 - c.alpha ** (steps + 1)) / (1 - c.alpha) * ones)
    assert close(got.out_bias, c.s_out * (1 - c.kappa ** (steps + 1)) / (1 - c.kappa) * ones)
    # negative control: the unshifted z gives a different recurrent trace
    assert not close(got.rec, causal_filter(z, c.alpha, c.s_in), 1e-6)


def test_reverse_scan_scalar_decay_equals_double_sum():
    g = torch.Generator().manual_seed(12)
    q = torch.randn(T, B, N_REC, generator=g, dtype=F64)
    d = 0.93
    # G_t = sum_{s>=t} d^(s-t) q_s
    want = torch.stack([sum(d ** (s - t) * q[s] for s in range(t, T)) for t in range(T)])
    q_copy = q.clone()
    got = reverse_scan(q, d)
    assert close(got, want)
    assert torch.equal(got[-1], q[-1])  # G_{T-1} = q_{T-1} (G_T = 0)
    assert torch.equal(q, q_copy)  # the input is not modified in place


def test_reverse_scan_time_varying_decay_equals_double_sum():
    # G_t = q_t + d_t G_{t+1}, G_T = 0  =>  G_t = sum_{s>=t} (prod_{u=t}^{s-1} d_u) q_s
    g = torch.Generator().manual_seed(13)
    q = torch.randn(T, B, N_REC, generator=g, dtype=F64)
    d = 0.5 + 0.5 * torch.rand(T, B, N_REC, generator=g, dtype=F64)
    want = torch.zeros_like(q)
    for t in range(T):
        for s in range(t, T):
            prod = torch.ones(B, N_REC, dtype=F64)
            for u in range(t, s):
                prod = prod * d[u]
            want[t] += prod * q[s]
    assert close(reverse_scan(q, d), want)
    # negative control: using d_{t+1} (off by one) would disagree
    assert not close(reverse_scan(q, torch.roll(d, -1, 0)), want, 1e-6)


def test_reverse_scan_is_the_adjoint_of_the_causal_filter():
    """sum_t L_t F_t(u) = sum_t u_t * s * G_t(L) for G = reverse_scan(L, a): the identity the factored rule uses."""
    g = torch.Generator().manual_seed(14)
    u, lsig = torch.randn(T, B, N_REC, generator=g, dtype=F64), torch.randn(T, B, N_REC, generator=g, dtype=F64)
    a, s = 0.87, 0.13
    lhs = (lsig * causal_filter(u, a, s)).sum(0)
    rhs = (u * s * reverse_scan(lsig, a)).sum(0)
    assert close(lhs, rhs)


@pytest.mark.parametrize("scaled", [False, True])
def test_readout_filtered_eligibility_equals_autograd(scaled):
    """With the loss on y (leak kappa), sum_t L_t * F_kappa(e)_t equals autograd (float64).

    Feed-forward LIF (no recurrence) with refractoriness; e_t = psi_t (x) P^in_t, L_t = W_out^T (y_t - y*_t),
    F_kappa with scale s_out. Derivation: dy_t/dW_in = sum_{t'<=t} kappa^(t-t') s_out W_out psi_t' P^in_t',
    since the reset is a constant and dv_t'/dW_in = P^in_t' (the membrane filter of s_in x).
    """
    neuron = LIFParameters(tau_mem=20e-3, v_th=0.5, t_ref=2e-3, input_scaling=scaled)
    readout = ReadoutParameters(tau_out=15e-3, output_scaling=scaled)
    c = trace_constants(neuron, readout, DT, N_REC, F64)
    g = torch.Generator().manual_seed(15)
    gain = 3.0 / c.s_in
    w_in = (gain * torch.randn(N_REC, N_IN, generator=g, dtype=F64)).requires_grad_(True)
    w_out = torch.randn(2, N_REC, generator=g, dtype=F64).requires_grad_(True)
    b_out = torch.randn(2, generator=g, dtype=F64).requires_grad_(True)
    x = (torch.rand(T, B, N_IN, generator=g, dtype=F64) < 0.5).to(F64)
    target = torch.randn(T, B, 2, generator=g, dtype=F64)
    state, y, tr = lif_initial_state(B, N_REC, F64), torch.zeros(B, 2, dtype=F64), zero_traces(B, N_IN, N_REC, F64)
    ys, zs, psis, pins, outs, obias, refractory = [], [], [], [], [], [], 0
    for t in range(T):
        z_prev, refractory = state.z.detach(), refractory + int((state.r > 0).sum())
        z, psi, state = lif_step(neuron, state, x[t] @ w_in.T, DT)
        y = readout_step(readout, y, z @ w_out.T + b_out, DT)
        tr = pre_trace_step(tr, c, x[t], z_prev, z.detach())
        for lst, val in zip((ys, zs, psis, pins, outs, obias), (y, z, psi, tr.inp, tr.out, tr.out_bias)):
            lst.append(val)
    ys, zs, psi, p_in, out, out_bias = (torch.stack(v) for v in (ys, zs, psis, pins, outs, obias))
    loss = 0.5 * ((ys - target) ** 2).sum()
    want = torch.autograd.grad(loss, (w_in, w_out, b_out))
    assert 0 < float(zs.detach().mean()) < 0.6 and (psi > 0).any() and refractory > 0  # spikes, refractory steps
    err = (ys - target).detach()  # E_t, (T, B, n_out)
    learning = err @ w_out.detach()  # L_t = W_out^T E_t, (T, B, n_rec)
    elig = psi.unsqueeze(-1) * p_in.unsqueeze(-2)  # e_t[j, i] = psi_j P^in_i, (T, B, n_rec, n_in)
    e_bar = causal_filter(elig, c.kappa, c.s_out)
    g_in = torch.einsum("tbj,tbji->ji", learning, e_bar)
    g_in_dual = torch.einsum("tbj,tbji->ji", c.s_out * reverse_scan(learning, c.kappa), elig)
    g_out = torch.einsum("tbk,tbj->kj", err, out)
    g_bout = (err * out_bias).sum((0, 1))
    for got, ref in ((g_in, want[0]), (g_in_dual, want[0]), (g_out, want[1]), (g_bout, want[2])):
        assert ref.abs().max() > 0
        assert float((got - ref).abs().max() / ref.abs().max()) < 1e-10
