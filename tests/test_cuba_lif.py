"""The current-based LIF family (neuromorph.dynamics.cuba_lif): dynamics, e-prop's exactness, refusals.

Everything numeric is float64. Tolerances: 1e-10 relative for e-prop against autograd with
stop-gradients (as tests/test_eprop_oracle.py), 1e-12 for closed forms and norse's trajectory
(the same arithmetic in another order).
"""

import math
from dataclasses import dataclass

import pytest
import torch
from norse.torch.functional.lif import LIFFeedForwardState, lif_feed_forward_step
from norse.torch.functional.lif import LIFParameters as NorseLIFParameters

from neuromorph.backends.torch import lower
from neuromorph.dynamics import (
    NEURONS,
    CubaLIFParameters,
    Eligibility,
    Filter,
    LIFParameters,
    ReadoutParameters,
    cuba_lif_initial_state,
    lif_initial_state,
    lif_step,
)
from neuromorph.errors import ConfigError, UnsupportedPairingError
from neuromorph.network import NetworkSpec
from neuromorph.plasticity import BPTT, RFLO, EProp, Feedback, Mode, Target
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.tasks.base import LossKind
from tests.helpers import ALL_TARGETS, max_rel_err, oracle_gradients, random_problem, rule_gradients

REG = RateRegularization(strength=0.5, target_hz=20.0)
DT = 1e-3


def cuba_spec(neuron=None, *, scaled=False, n_in=6, n_rec=8, n_out=2) -> NetworkSpec:
    """A small CUBA network (tau_syn 5 ms, refractory 2 steps) that spikes within 30 steps."""
    neuron = neuron or CubaLIFParameters(tau_mem=20e-3, v_th=0.5, t_ref=2e-3, input_scaling=scaled, tau_syn=5e-3)
    return NetworkSpec(n_in, n_rec, n_out, neuron, ReadoutParameters(tau_out=15e-3, output_scaling=scaled), dt=DT)


def problem(spec: NetworkSpec, kind: LossKind, seed=0):
    """random_problem, with the input gain raised for the scaled form (its current stage adds 1-alpha_s)."""
    gain = 2.0 if not spec.neuron.input_scaling else 6.0
    return random_problem(spec, kind, seed=seed, gain=gain)


def _spike_fraction(spec, params, batch) -> float:
    from neuromorph.backends.torch import differentiable_run

    _, z = differentiable_run(lower(spec, torch.float64), params, batch.inputs, stop_recurrent=True)
    return float(z.mean())


# ------------------------------------------------------------------------------------------ dynamics
def _subthreshold(p: CubaLIFParameters, drive: torch.Tensor) -> torch.Tensor:
    """v_t over a (T, 1, n) drive, threshold out of reach."""
    state, vs = cuba_lif_initial_state(1, drive.shape[-1], torch.float64), []
    for d in drive:
        _, _, state = p.step(state, d, DT)
        vs.append(state.v)
    return torch.stack(vs)


@pytest.mark.parametrize("scaled", [False, True], ids=["paper", "scaled"])
@pytest.mark.parametrize("tau_syn", [5e-3, 20e-3], ids=["distinct", "equal"])
def test_impulse_response_is_a_difference_of_exponentials(scaled, tau_syn):
    """v_k = s s_s (alpha^(k+1) - alpha_s^(k+1)) / (alpha - alpha_s); (k+1) alpha^k s s_s when alpha = alpha_s."""
    p = CubaLIFParameters(tau_mem=20e-3, v_th=1e9, tau_syn=tau_syn, input_scaling=scaled)
    drive = torch.zeros(60, 1, 1, dtype=torch.float64)
    drive[0] = 1.0
    v = _subthreshold(p, drive).flatten()
    a, a_s = p.alpha(DT), p.alpha_syn(DT)
    gain = p.drive_scale(DT) * p.current_scale(DT)
    k = torch.arange(60, dtype=torch.float64)
    if tau_syn == p.tau_mem:
        want = gain * (k + 1) * a**k
    else:
        want = gain * (a ** (k + 1) - a_s ** (k + 1)) / (a - a_s)
    torch.testing.assert_close(v, want, rtol=1e-12, atol=1e-15)
    assert int(v.argmax()) > 0, "a synaptic stage must delay the peak past the impulse (LIF peaks at k = 0)"


def test_scaled_form_has_unit_steady_state_gain():
    p = CubaLIFParameters(tau_mem=20e-3, v_th=1e9, tau_syn=5e-3, input_scaling=True)
    v = _subthreshold(p, torch.full((2000, 1, 1), 0.7, dtype=torch.float64))
    assert float(v[-1]) == pytest.approx(0.7, rel=1e-12)


def test_vanishing_tau_syn_is_lif_exactly():
    """alpha_s = exp(-1000) = 0: the current is the drive, and the neuron is LIF, spikes and reset included."""
    g = torch.Generator().manual_seed(1)
    drive = 0.4 * torch.rand(40, 3, 5, generator=g, dtype=torch.float64)
    cuba = CubaLIFParameters(tau_mem=20e-3, v_th=0.5, t_ref=2e-3, tau_syn=1e-6)
    lif = LIFParameters(tau_mem=20e-3, v_th=0.5, t_ref=2e-3)
    sc, sl, n_spikes = cuba_lif_initial_state(3, 5, torch.float64), lif_initial_state(3, 5, torch.float64), 0.0
    for d in drive:
        zc, pc, sc = cuba.step(sc, d, DT)
        zl, pl, sl = lif_step(lif, sl, d, DT)
        assert torch.equal(zc, zl) and torch.equal(pc, pl) and torch.equal(sc.v, sl.v)
        n_spikes += float(zc.sum())
    assert n_spikes > 0


def _norse_tau(tau_exact: float) -> float:
    """The Euler time constant with the same per-step decay: 1 - dt/tau_norse = exp(-dt/tau)."""
    return DT / (1.0 - math.exp(-DT / tau_exact))


def test_subthreshold_trajectory_matches_norse_under_the_documented_mapping():
    """norse 1.1.0 lif_feed_forward_step, v_leak = 0: v equal, i = norse's c / (1 - dt/tau_syn_norse)."""
    p = CubaLIFParameters(tau_mem=20e-3, v_th=1e9, tau_syn=5e-3)
    tm, ts = _norse_tau(p.tau_mem), _norse_tau(p.tau_syn)
    np_ = NorseLIFParameters(tau_syn_inv=torch.tensor(1 / ts, dtype=torch.float64),
                             tau_mem_inv=torch.tensor(1 / tm, dtype=torch.float64),
                             v_leak=torch.tensor(0.0, dtype=torch.float64),
                             v_th=torch.tensor(1e9, dtype=torch.float64))
    g = torch.Generator().manual_seed(2)
    drive = torch.randn(80, 2, 4, generator=g, dtype=torch.float64)
    zeros = torch.zeros(2, 4, dtype=torch.float64)
    ns, ours = LIFFeedForwardState(zeros, zeros.clone()), cuba_lif_initial_state(2, 4, torch.float64)
    for d in drive:
        _, ns = lif_feed_forward_step(d, ns, np_, dt=DT)
        _, _, ours = p.step(ours, (DT / tm) * d, DT)
        torch.testing.assert_close(ours.v, ns.v, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(ours.i * (DT / tm) ** -1 * (1 - DT / ts), ns.i, rtol=1e-12, atol=1e-14)
    assert float(ns.v.abs().max()) > 0.1


def test_card_name_and_parameter_checks():
    assert NEURONS["cuba_lif"] is CubaLIFParameters
    assert CubaLIFParameters.state_names == CubaLIFParameters.initial_state(CubaLIFParameters(), 1, 2)._fields
    with pytest.raises(ConfigError, match="tau_syn"):
        CubaLIFParameters(tau_syn=0.0)
    e = CubaLIFParameters(tau_syn=5e-3, input_scaling=True).eligibility(DT, 3, torch.float64)
    assert e.filters == (Filter(math.exp(-0.2), 1 - math.exp(-0.2)), Filter(math.exp(-0.05), 1 - math.exp(-0.05)))
    assert not e.adaptive


# -------------------------------------------------------------------------------- e-prop is exact
@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("kind", list(LossKind))
@pytest.mark.parametrize("scaled", [False, True], ids=["paper", "scaled"])
def test_eprop_equals_autograd_with_stop_gradient(mode, kind, scaled):
    spec = cuba_spec(scaled=scaled)
    params, feedback, batch = problem(spec, kind)
    assert 0.02 < _spike_fraction(spec, params, batch) < 0.5, "the problem must spike, not saturate"
    rule = EProp(feedback=Feedback.SYMMETRIC, mode=mode, targets=ALL_TARGETS, regularization=REG)
    got = rule_gradients(spec, params, feedback, batch, kind, rule)
    want = oracle_gradients(spec, params, batch, kind, REG, stop_recurrent=True)
    for target in ALL_TARGETS:
        assert want[target].abs().max() > 0, f"oracle gradient of {target} vanished; the test would be vacuous"
        assert max_rel_err(got[target], want[target]) < 1e-10, target


def test_eprop_from_a_given_initial_state_equals_autograd():
    """A non-zero initial current and membrane: the traces still start at zero (i_0 does not depend on W)."""
    from neuromorph.backends.torch import NetworkState, differentiable_run, train_sequence
    from neuromorph.network import Parameters
    from neuromorph.plasticity.losses import loss_value

    spec = cuba_spec()
    params, feedback, batch = problem(spec, LossKind.REGRESSION, seed=8)
    low, g = lower(spec, torch.float64), torch.Generator().manual_seed(9)
    zero = low.initial_state(batch.batch_size)
    neuron = type(zero.neuron)(*(0.4 * torch.rand(s.shape, generator=g, dtype=torch.float64) for s in zero.neuron))
    neuron = neuron._replace(z=(neuron.z > 0.2).double(), r=torch.zeros_like(neuron.r))
    state = NetworkState(neuron, torch.randn(batch.batch_size, spec.n_out, generator=g, dtype=torch.float64))
    captured = {}
    rule = EProp(feedback=Feedback.SYMMETRIC, targets=ALL_TARGETS, regularization=REG)
    train_sequence(low, params, feedback, rule, LossKind.REGRESSION, batch, captured.update, initial_state=state)
    leaves = Parameters(*(q.detach().clone().requires_grad_(True) for q in params))
    y, z = differentiable_run(low, leaves, batch.inputs, stop_recurrent=True, state=state)
    loss = loss_value(LossKind.REGRESSION, y, batch.targets, batch.mask) + REG.value(z, spec.dt)
    want = dict(zip((Target(name) for name in Parameters._fields), torch.autograd.grad(loss, list(leaves))))
    for target in ALL_TARGETS:
        assert max_rel_err(captured[target], want[target]) < 1e-10, target


@pytest.mark.parametrize("feedback_kind", [Feedback.RANDOM, Feedback.ADAPTIVE])
def test_online_equals_factored_with_random_feedback(feedback_kind):
    spec = cuba_spec()
    params, feedback, batch = problem(spec, LossKind.CLASSIFICATION, seed=5)
    grads = {mode: rule_gradients(spec, params, feedback, batch, LossKind.CLASSIFICATION,
                                  EProp(feedback=feedback_kind, mode=mode, targets=ALL_TARGETS, regularization=REG))
             for mode in Mode}
    for target in ALL_TARGETS:
        assert grads[Mode.FACTORED][target].abs().max() > 0, target
        assert max_rel_err(grads[Mode.ONLINE][target], grads[Mode.FACTORED][target]) < 1e-10, target


@dataclass(frozen=True)
class _MembraneOnly(CubaLIFParameters):
    """Negative control: CUBA dynamics with plain-LIF eligibility (the synaptic stage dropped)."""

    def eligibility(self, dt, n, dtype):
        return Eligibility((Filter(self.alpha(dt), self.drive_scale(dt)),))


@pytest.mark.parametrize("mode", list(Mode))
def test_plain_lif_traces_are_wrong_for_cuba(mode):
    """Dropping the current stage from the traces must miss autograd by far more than the tolerance."""
    spec = cuba_spec(_MembraneOnly(tau_mem=20e-3, v_th=0.5, t_ref=2e-3, tau_syn=5e-3))
    params, feedback, batch = problem(spec, LossKind.REGRESSION, seed=3)
    rule = EProp(feedback=Feedback.SYMMETRIC, mode=mode, targets=ALL_TARGETS, regularization=REG)
    got = rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, rule)
    want = oracle_gradients(spec, params, batch, LossKind.REGRESSION, REG, stop_recurrent=True)
    for target in (Target.W_IN, Target.W_REC, Target.BIAS):
        assert max_rel_err(got[target], want[target]) > 0.1, target
    assert max_rel_err(got[Target.W_OUT], want[Target.W_OUT]) < 1e-10  # the readout does not see the traces


# ------------------------------------------------------------------------------------ refusals
def test_rflo_is_refused_for_cuba_at_setup():
    spec = cuba_spec()
    params, feedback, batch = problem(spec, LossKind.REGRESSION)
    rule = RFLO(targets=frozenset({Target.W_IN, Target.W_REC, Target.W_OUT}))
    with pytest.raises(UnsupportedPairingError, match=r"rflo.*'cuba_lif' \(CubaLIFParameters\).*2 filter stages"):
        rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, rule)
    lif = cuba_spec(LIFParameters(tau_mem=20e-3, v_th=0.5, t_ref=2e-3))  # control: the same call runs for LIF
    assert rule_gradients(lif, params, feedback, batch, LossKind.REGRESSION, rule)[Target.W_IN].abs().max() > 0


class MyCuba(LIFParameters):
    """A user's quick CUBA: LIF's parameters, a new step, and no eligibility stated for it."""

    tau_syn = 5e-3

    def initial_state(self, batch, n, dtype=torch.float32):
        return cuba_lif_initial_state(batch, n, dtype)

    def step(self, state, drive, dt, *, theta=None, membrane=None):
        return CubaLIFParameters.step(self, state, drive, dt, theta=theta, membrane=membrane)

    alpha_syn = CubaLIFParameters.alpha_syn
    current_scale = CubaLIFParameters.current_scale


@pytest.mark.parametrize("mode", list(Mode))
def test_lif_subclass_that_changes_step_is_refused_by_eprop(mode):
    """Must show: e-prop refuses, naming the neuron, the rule and the missing piece, instead of LIF's gradients."""
    spec = cuba_spec(MyCuba(tau_mem=20e-3, v_th=0.5, t_ref=2e-3))
    params, feedback, batch = problem(spec, LossKind.REGRESSION)
    rule = EProp(feedback=Feedback.SYMMETRIC, mode=mode, targets=ALL_TARGETS)
    with pytest.raises(UnsupportedPairingError) as err:
        rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, rule)
    message = str(err.value)
    for piece in ("MyCuba (a subclass of LIFParameters)", "rule 'eprop'", "eligibility"):
        assert piece in message, (piece, message)


def test_bptt_trains_the_lif_subclass_and_matches_the_family():
    """The refusal's suggested way out works: BPTT's gradient of MyCuba equals that of cuba_lif."""
    lif_kw = dict(tau_mem=20e-3, v_th=0.5, t_ref=2e-3)
    mine, family = cuba_spec(MyCuba(**lif_kw)), cuba_spec(CubaLIFParameters(**lif_kw, tau_syn=5e-3))
    params, feedback, batch = problem(family, LossKind.REGRESSION, seed=4)
    rule = BPTT(targets=ALL_TARGETS, regularization=REG)
    got = rule_gradients(mine, params, feedback, batch, LossKind.REGRESSION, rule)
    want = rule_gradients(family, params, feedback, batch, LossKind.REGRESSION, rule)
    for target in ALL_TARGETS:
        assert max_rel_err(got[target], want[target]) < 1e-12, target


# ------------------------------------------------------------------------------------------- card
def test_cuba_card_is_the_sine_card_with_the_neuron_changed():
    from pathlib import Path

    from neuromorph.config import load_card, resolved_card

    models = Path(__file__).resolve().parents[1] / "models"
    spec = load_card(models / "eprop_sine_cuba.toml")
    cuba, lif = resolved_card(spec), resolved_card(load_card(models / "eprop_sine.toml"))
    neuron = spec.network.neuron
    assert type(neuron) is CubaLIFParameters and neuron.tau_syn == 5e-3 and neuron.input_scaling
    assert cuba["network"]["neuron"].pop("model") == "cuba_lif" and cuba["network"]["neuron"].pop("tau_syn") == 5e-3
    lif["network"]["neuron"].pop("model")
    assert cuba == lif
