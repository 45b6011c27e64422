"""LIF/ALIF/readout dynamics against closed forms, hand-derived sequences and norse.

The equations are those of Bellec et al. 2020 (Nat. Commun. 11:3625, Methods) as written in docs/eprop.md.

Everything compared numerically is float64. Tolerances: exact equality where the
arithmetic is exact (masks, pseudo-derivative at its kinks, spike trains),
1e-12 absolute/relative for closed forms that the step functions evaluate in a
different order.
"""

import math

import pytest
import torch
from norse.torch.functional.lif_box import LIFBoxFeedForwardState, LIFBoxParameters, lif_box_feed_forward_step
from norse.torch.functional.reset import reset_subtract

from neuromorph.dynamics import (
    ALIFParameters,
    LIFParameters,
    ReadoutParameters,
    alif_initial_state,
    alif_step,
    lif_initial_state,
    lif_step,
    pseudo_derivative,
    readout_step,
    spike,
)
from neuromorph.errors import ConfigError
from neuromorph.network import NetworkSpec

F64 = torch.float64
DT = 1e-3
TOL = 1e-12


def psi_formula(v, a, v_th, gamma, width):
    """Bellec et al. eq. (7), written out independently in plain Python."""
    return gamma / v_th * max(0.0, 1.0 - abs(v - a) / (width * v_th))


def run_lif(p, drives, n=1):
    """drives: list of floats (one neuron) -> lists of v, z, psi, r."""
    state, out = lif_initial_state(1, n, F64), {"v": [], "z": [], "psi": [], "r": []}
    for d in drives:
        z, psi, state = lif_step(p, state, torch.full((1, n), d, dtype=F64), DT)
        for k, x in zip(("v", "z", "psi", "r"), (state.v, z, psi, state.r)):
            out[k].append(float(x[0, 0]))
    return out


# ------------------------------------------- pseudo-derivative: peak gamma/v_th at threshold, 0 off support


@pytest.mark.parametrize("v_th,gamma,width", [(0.6, 0.3, 1.0), (0.5, 0.3, 1.0), (0.03, 0.3, 1.0), (1.0, 0.5, 0.5)])
def test_pseudo_derivative_peak_support_and_linear_flanks(v_th, gamma, width):
    th = torch.tensor(v_th, dtype=F64)
    assert pseudo_derivative(th.clone(), th, v_th, gamma, width).item() == gamma / v_th  # exact, at v = v_th
    g = torch.Generator().manual_seed(1)
    v = v_th + width * v_th * (6 * torch.rand(4000, generator=g, dtype=F64) - 3)  # |v - v_th| up to 3 widths
    psi = pseudo_derivative(v, th, v_th, gamma, width)
    outside = (v - th).abs() >= width * v_th
    assert outside.any() and (~outside).any()
    assert torch.all(psi[outside] == 0.0)  # exact zero outside the support
    want = torch.tensor([psi_formula(x, v_th, v_th, gamma, width) for x in v.tolist()], dtype=F64)
    assert torch.allclose(psi, want, rtol=0, atol=1e-12 * gamma / v_th)
    # the support edges themselves, at dyadic points where v - v_th is exact
    if v_th == 0.5 and width == 1.0:
        edges = torch.tensor([0.0, 1.0, -0.25, 1.25], dtype=F64)
        assert torch.all(pseudo_derivative(edges, th, v_th, gamma, width) == 0.0)
        assert pseudo_derivative(torch.tensor(0.75, dtype=F64), th, v_th, gamma, width).item() == 0.3  # (0.3/0.5)*0.5


def test_spike_backward_is_plus_psi_for_v_and_minus_psi_for_threshold():
    v_th, gamma, width = 0.6, 0.3, 1.0
    g = torch.Generator().manual_seed(2)
    v = (1.2 * torch.rand(50, generator=g, dtype=F64) - 0.1).requires_grad_(True)
    a = (0.6 + 0.2 * torch.rand(50, generator=g, dtype=F64)).requires_grad_(True)
    w = torch.randn(50, generator=g, dtype=F64)  # random upstream gradient
    z = spike(v, a, v_th, gamma, width)
    assert torch.equal(z, (v > a).to(F64))
    (z * w).sum().backward()
    psi = torch.tensor([psi_formula(x, y, v_th, gamma, width) for x, y in zip(v.tolist(), a.tolist())], dtype=F64)
    assert torch.allclose(v.grad, w * psi, rtol=0, atol=1e-14)
    assert torch.allclose(a.grad, -w * psi, rtol=0, atol=1e-14)
    assert (psi > 0).sum() > 10  # not vacuous
    # a scalar threshold shared by all neurons receives the summed gradient
    v2, th = v.detach().clone().requires_grad_(True), torch.tensor(v_th, dtype=F64, requires_grad=True)
    spike(v2, th, v_th, gamma, width).sum().backward()
    assert torch.allclose(th.grad, -pseudo_derivative(v2.detach(), v_th, v_th, gamma, width).sum(), rtol=1e-14)


def test_spike_outside_autograd_is_plain_heaviside():
    v = torch.tensor([-1.0, 0.59, 0.6, 0.61, 2.0], dtype=F64)
    th = torch.tensor(0.6, dtype=F64)
    want = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0], dtype=F64)  # H(0) = 0: strict crossing
    z = spike(v, th, 0.6, 0.3, 1.0)
    assert z.grad_fn is None and z.dtype == F64 and torch.equal(z, want)
    with torch.no_grad():
        z = spike(v.clone().requires_grad_(True), th, 0.6, 0.3, 1.0)
    assert z.grad_fn is None and torch.equal(z, want)


def test_refractoriness_blocks_z_and_psi_for_exactly_n_ref_steps():
    # v_th = 1, constant drive I = 2, s = 1, n_ref = round(3e-3/1e-3) = 3; width 50 so that psi would be
    # nonzero everywhere here (v < 51) if it were not masked. r_t = 3 after a spike, then 2, 1, 0:
    #   t=1: v=2             > 1, free (r_0=0)  -> z=1, r=3
    #   t=2: v=2a+2-1        blocked (r_1=3)    -> z=0, psi=0, r=2
    #   t=3: v=a v_2+2       blocked (r_2=2)    -> r=1
    #   t=4: v=a v_3+2       blocked (r_3=1)    -> r=0
    #   t=5: v=a v_4+2 > 1   free (r_4=0)       -> z=1, r=3;  t=6..8 blocked; t=9 spikes again
    p = LIFParameters(tau_mem=20e-3, v_th=1.0, t_ref=3e-3, pd_height=0.3, pd_width=50.0)
    assert p.n_ref(DT) == 3
    out = run_lif(p, [2.0] * 12)
    assert out["z"] == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    assert out["r"] == [3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0]
    for t, (v, z, psi) in enumerate(zip(out["v"], out["z"], out["psi"]), start=1):
        free = t % 4 == 1
        assert psi == (psi_formula(v, 1.0, 1.0, 0.3, 50.0) if free else 0.0), t
        assert psi > 0 or not free
    alpha = p.alpha(DT)
    assert out["v"][1] == pytest.approx(2 * alpha + 1, abs=TOL)  # refractory steps still integrate and reset
    # control: without refractoriness the same drive spikes every step (v_t >= 1 + 2a > 1)
    assert run_lif(LIFParameters(tau_mem=20e-3, v_th=1.0, pd_width=50.0), [2.0] * 12)["z"] == [1.0] * 12


def test_lif_autograd_through_z_gives_s_psi_and_zero_when_refractory():
    p = LIFParameters(tau_mem=20e-3, v_th=1.0, t_ref=2e-3, pd_width=50.0, input_scaling=True)
    state, grads = lif_initial_state(1, 1, F64), []
    for t in range(8):  # s*40 = 1.95 > v_th: spikes at t = 1, 4, 7 (0-based 0, 3, 6), refractory in between
        drive = torch.full((1, 1), 40.0, dtype=F64, requires_grad=True)
        z, psi, state = lif_step(p, state._replace(v=state.v.detach(), z=state.z.detach()), drive, DT)
        (grad,) = torch.autograd.grad(z.sum(), drive)
        assert grad.item() == pytest.approx(p.drive_scale(DT) * psi.item(), abs=1e-15), t
        grads.append(grad.item())
    assert p.n_ref(DT) == 2
    assert [g > 0 for g in grads] == [True, False, False] * 2 + [True, False]


# --------------------------------------------------------------------------- LIF


@pytest.mark.parametrize("scaled", [False, True])
def test_lif_subthreshold_closed_form(scaled):
    p = LIFParameters(tau_mem=15e-3, v_th=1e6, input_scaling=scaled)
    alpha, current = math.exp(-DT / 15e-3), 0.37
    s = 1 - alpha if scaled else 1.0
    assert p.alpha(DT) == alpha and p.drive_scale(DT) == s
    out = run_lif(p, [current] * 60)
    for t, v in enumerate(out["v"], start=1):
        assert v == pytest.approx(s * current * (1 - alpha**t) / (1 - alpha), rel=TOL, abs=0), t
    assert out["z"] == [0.0] * 60


def test_lif_reset_by_subtraction_one_step_after_spike():
    # v_th = 1, s = 1, a = exp(-1/20) = 0.951229; drives I = [0.6, 0.6, 0.3, 0.0, 1.5]:
    #   v1 = 0.6                          = 0.6        z1 = 0
    #   v2 = a*0.6 + 0.6                  = 1.170737   z2 = 1   (stored pre-reset)
    #   v3 = a*v2 + 0.3 - 1               = 0.413640   z3 = 0   (reset of z2 subtracted now, undecayed)
    #   v4 = a*v3 + 0.0                   = 0.393467   z4 = 0
    #   v5 = a*v4 + 1.5                   = 1.874278   z5 = 1
    p = LIFParameters(tau_mem=20e-3, v_th=1.0)
    a = math.exp(-0.05)
    v1 = 0.6
    v2 = a * v1 + 0.6
    v3 = a * v2 + 0.3 - 1.0
    v4 = a * v3
    v5 = a * v4 + 1.5
    out = run_lif(p, [0.6, 0.6, 0.3, 0.0, 1.5])
    assert out["z"] == [0, 1, 0, 0, 1]
    assert out["v"] == pytest.approx([v1, v2, v3, v4, v5], abs=TOL)
    assert out["v"] == pytest.approx([0.6, 1.170737, 0.413640, 0.393467, 1.874278], abs=1e-6)


# --------------------------------------------------------------------------- ALIF


def test_alif_adaptation_and_threshold_hand_sequence():
    # v_th = 1, beta = 0.5, a = exp(-1/20), rho = exp(-1/200); drives [1.5, 0, 1.2, 1.2, 0]:
    #   t=1: a1 = 0,          A1 = 1                 v1 = 1.5                  z1 = 1
    #   t=2: a2 = 1,          A2 = 1.5               v2 = a*1.5 - 1 = 0.4268   z2 = 0
    #   t=3: a3 = rho,        A3 = 1 + rho/2 = 1.4975 v3 = a*v2 + 1.2 = 1.6060 z3 = 1
    #   t=4: a4 = rho^2 + 1,  A4 = 1.9950            v4 = a*v3 + 0.2 = 1.7277  z4 = 0 (a LIF would spike)
    #   t=5: a5 = rho^3 + rho, A5 = 1.9876           v5 = a*v4 = 1.6435        z5 = 0
    p = ALIFParameters(tau_mem=20e-3, v_th=1.0, tau_adapt=0.2, beta=0.5, pd_width=1.0)
    al, rho = math.exp(-0.05), math.exp(-0.005)
    assert p.rho(DT) == rho
    v = [1.5]
    v.append(al * v[0] - 1.0)
    v.append(al * v[1] + 1.2)
    v.append(al * v[2] + 1.2 - 1.0)
    v.append(al * v[3])
    adapt = [0.0, 1.0, rho, rho**2 + 1, rho**3 + rho]
    thr = [1.0 + 0.5 * x for x in adapt]
    state, beta = alif_initial_state(1, 1, F64), p.beta_tensor(1, F64)
    zs = []
    for t, d in enumerate([1.5, 0.0, 1.2, 1.2, 0.0]):
        z, psi, state = alif_step(p, state, torch.full((1, 1), d, dtype=F64), DT, beta)
        zs.append(z.item())
        assert state.a.item() == pytest.approx(adapt[t], abs=TOL) and state.v.item() == pytest.approx(v[t], abs=TOL)
        assert psi.item() == pytest.approx(psi_formula(v[t], thr[t], 1.0, 0.3, 1.0), abs=TOL), t
    assert zs == [1, 0, 1, 0, 0]
    assert v[3] > 1.0  # the t=4 non-spike is due to adaptation


def test_alif_with_zero_beta_neurons_is_exactly_lif():
    betas = (0.0, 0.3, 0.0, 0.8)
    common = dict(tau_mem=20e-3, v_th=0.5, t_ref=2e-3)
    pa, pl = ALIFParameters(**common, tau_adapt=0.1, beta=betas), LIFParameters(**common)
    beta = pa.beta_tensor(4, F64)
    assert torch.equal(beta, torch.tensor(betas, dtype=F64))
    g = torch.Generator().manual_seed(5)
    drive = 0.6 * torch.rand(80, 2, 4, generator=g, dtype=F64)
    drive[:, :, 1::2] = drive[:, :, 0::2]  # ALIF neurons get the same drive as their LIF partners
    sa, sl = alif_initial_state(2, 4, F64), lif_initial_state(2, 4, F64)
    lif_cols, alif_cols, za, zl = [0, 2], [1, 3], [], []
    for t in range(80):
        z1, psi1, sa = alif_step(pa, sa, drive[t], DT, beta)
        z2, psi2, sl = lif_step(pl, sl, drive[t], DT)
        for x, y in ((z1, z2), (psi1, psi2), (sa.v, sl.v), (sa.r, sl.r)):
            assert torch.equal(x[:, lif_cols], y[:, lif_cols]), t
        za.append(z1), zl.append(z2)
    za, zl = torch.stack(za), torch.stack(zl)
    assert zl[..., lif_cols].sum() >= 5  # spikes occurred, so the reset and refractory paths were exercised
    assert not torch.equal(za[..., alif_cols], zl[..., alif_cols])  # negative control: beta > 0 changes spiking


# --------------------------------------------------------------------------- readout


@pytest.mark.parametrize("scaled", [False, True])
def test_readout_equals_closed_form_filter_in_float64(scaled):
    p = ReadoutParameters(tau_out=15e-3, output_scaling=scaled)
    kappa = math.exp(-DT / 15e-3)
    s_out = 1 - kappa if scaled else 1.0
    assert p.kappa(DT) == kappa and p.drive_scale(DT) == s_out
    g = torch.Generator().manual_seed(7)
    u = torch.randn(50, 2, 3, generator=g, dtype=F64)
    y, ys = torch.zeros(2, 3, dtype=F64), []
    for t in range(50):
        y = readout_step(p, y, u[t], DT)
        ys.append(y)
    ys = torch.stack(ys)
    assert ys.dtype == F64
    want = torch.stack([sum(kappa ** (t - s) * s_out * u[s] for s in range(t + 1)) for t in range(50)])
    # 1e-12 also catches norse parameters rounded through float32 (error ~1e-8)
    assert (ys - want).abs().max() < TOL * max(1.0, float(want.abs().max()))


# --------------------------------------------------------------------------- norse cross-check


def norse_params(alpha, v_th):
    inv = (1 - alpha) / DT
    return LIFBoxParameters(tau_mem_inv=inv, v_leak=0.0, v_th=v_th, v_reset=0.0, reset_method=reset_subtract)


def test_lif_scaled_membrane_equals_norse_lif_box_without_spikes():
    # norse: v <- v + dt*tau_inv*(I - v) = a v + (1-a) I with tau_inv = (1-a)/dt, i.e. our input_scaling=True.
    p = LIFParameters(tau_mem=20e-3, v_th=1e6, input_scaling=True)
    alpha = p.alpha(DT)
    g = torch.Generator().manual_seed(8)
    drive = 2.0 * torch.randn(60, 3, 4, generator=g, dtype=F64)
    ours, theirs = lif_initial_state(3, 4, F64), LIFBoxFeedForwardState(torch.zeros(3, 4, dtype=F64))
    with torch.no_grad():
        for t in range(60):
            z, _, ours = lif_step(p, ours, drive[t], DT)
            zn, theirs = lif_box_feed_forward_step(drive[t], theirs, norse_params(alpha, 1e6), DT)
            assert torch.allclose(ours.v, theirs.v, rtol=0, atol=TOL) and not z.any() and not zn.any()


def test_lif_differs_from_norse_lif_box_after_a_spike():
    """Negative control: norse subtracts the reset before the next decay, so it is scaled by alpha.

    After a spike at step k: ours v_{k+1} = a v_k + s I - v_th, norse's pre-reset
    v_{k+1} = a (v_k - v_th) + s I; the difference is exactly -(1 - a) v_th.
    """
    p = LIFParameters(tau_mem=20e-3, v_th=1.0, input_scaling=True)
    alpha = p.alpha(DT)
    drive = torch.full((1, 1), 30.0, dtype=F64)  # v_t = 30(1 - a^t) crosses 1 at t = 1 (30(1-a) = 1.463)
    ours, theirs = lif_initial_state(1, 1, F64), LIFBoxFeedForwardState(torch.zeros(1, 1, dtype=F64))
    with torch.no_grad():
        z, _, ours = lif_step(p, ours, drive, DT)
        zn, theirs = lif_box_feed_forward_step(drive, theirs, norse_params(alpha, 1.0), DT)
        assert z.item() == zn.item() == 1.0
        assert ours.v.item() == pytest.approx(theirs.v.item() + 1.0, abs=TOL)  # norse stores post-reset v
        z, _, ours = lif_step(p, ours, drive, DT)
        zn, theirs = lif_box_feed_forward_step(drive, theirs, norse_params(alpha, 1.0), DT)
        norse_pre = theirs.v.item() + zn.item() * 1.0
    assert ours.v.item() - norse_pre == pytest.approx(-(1 - alpha) * 1.0, abs=TOL)
    assert abs(ours.v.item() - norse_pre) > 1e-2


# --------------------------------------------------------------------------- parameter validation


INVALID = [
    lambda: LIFParameters(tau_mem=0.0), lambda: LIFParameters(tau_mem=-1e-3),
    lambda: LIFParameters(tau_mem=float("nan")), lambda: LIFParameters(v_th=0.0),
    lambda: LIFParameters(pd_height=0.0), lambda: LIFParameters(pd_width=-1.0),
    lambda: LIFParameters(t_ref=-1e-3), lambda: ALIFParameters(tau_adapt=0.0),
    lambda: ALIFParameters(beta=-0.1), lambda: ALIFParameters(beta=(0.1, -0.1)),
    lambda: ALIFParameters(tau_mem=0.0), lambda: ReadoutParameters(tau_out=-1e-3),
    lambda: NetworkSpec(2, 3, 1, ALIFParameters(beta=(0.1, 0.2))),  # 2 betas for 3 neurons
    lambda: ALIFParameters(beta=(0.1, 0.2)).beta_tensor(3, F64),
]


@pytest.mark.parametrize("make", INVALID)
def test_invalid_parameters_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_valid_per_neuron_beta_is_accepted():
    spec = NetworkSpec(2, 3, 1, ALIFParameters(beta=(0.0, 0.1, 0.2)))
    assert spec.adaptive and LIFParameters(t_ref=0.0).n_ref(DT) == 0
