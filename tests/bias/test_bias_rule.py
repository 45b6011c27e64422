"""Bias-only tuning is the generic three-factor rule with pre = 1 (docs/bias.md, "The rule"; docs/eprop.md).

Oracles, float64, relative error <= 1e-10:
- spiking e-prop (LIF, ALIF; online and factored): autograd with the recurrent spikes detached,
  the truncation e-prop makes;
- rate e-prop (RFLO with the neuron's own leak): autograd with the recurrent input detached;
- without recurrence (a feed-forward network): the exact gradient (BPTT).
A negative control shows the truncation matters when there is recurrence.
"""

from __future__ import annotations

import pytest
import torch

from neuromorph import experiment
from neuromorph.backends.torch import differentiable_run, lower
from neuromorph.config import load_card
from neuromorph.dynamics import Activation, RateParameters, ReadoutParameters
from neuromorph.errors import ConfigError
from neuromorph.network import InitSpec, NetworkSpec, init_parameters
from neuromorph.plasticity import BPTT, RFLO, EProp, Feedback, Mode, Scope, Signal, Target
from neuromorph.plasticity.losses import RateRegularization, loss_value
from neuromorph.tasks.base import LossKind, TrialBatch
from tests.helpers import max_rel_err, oracle_gradients, random_problem, rule_gradients, small_spec

BIAS = frozenset({Target.BIAS})
NO_REG = RateRegularization()


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("kind", list(LossKind))
def test_spiking_bias_only_equals_autograd_under_the_eprop_truncation(adaptive, mode, kind):
    spec = small_spec(adaptive, t_ref=2e-3)
    params, feedback, batch = random_problem(spec, kind, seed=11)
    got = rule_gradients(spec, params, feedback, batch, kind, EProp(Feedback.SYMMETRIC, mode, targets=BIAS))
    want = oracle_gradients(spec, params, batch, kind, NO_REG, stop_recurrent=True)[Target.BIAS]
    assert set(got) == {Target.BIAS}, "bias-only must not compute updates for anything else"
    assert want.abs().max() > 0
    assert max_rel_err(got[Target.BIAS], want) < 1e-10


def rate_problem(activation=Activation.TANH, *, recurrent=True, n_steps=25, seed=0):
    spec = NetworkSpec(3, 7, 2, RateParameters(tau=5e-3, activation=activation), ReadoutParameters(tau_out=0.0),
                       dt=1e-3)
    g = torch.Generator().manual_seed(seed)
    params, feedback = init_parameters(spec, InitSpec(w_in_gain=1.0, w_rec_gain=1.5 if recurrent else 0.0), g,
                                       torch.float64)
    params = params._replace(bias=0.3 * torch.randn(7, generator=g, dtype=torch.float64))
    batch = TrialBatch(torch.randn(n_steps, 4, 3, generator=g, dtype=torch.float64),
                       torch.randn(n_steps, 4, 2, generator=g, dtype=torch.float64),
                       torch.ones(n_steps, 4, dtype=torch.float64))
    return spec, params, feedback, batch


def rate_autograd(spec, params, batch, stop_recurrent):
    leaves = params._replace(bias=params.bias.clone().requires_grad_(True))
    y, _ = differentiable_run(lower(spec, torch.float64), leaves, batch.inputs, stop_recurrent=stop_recurrent)
    return torch.autograd.grad(loss_value(LossKind.REGRESSION, y, batch.targets, batch.mask), leaves.bias)[0]


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("activation", [Activation.TANH, Activation.RELU])
def test_rate_bias_only_equals_autograd_through_the_detach(mode, activation):
    """Seed-003 e-prop on biases: eps <- (1-a) eps + a, e = phi'(u) eps (pre = 1), symmetric L."""
    spec, params, feedback, batch = rate_problem(activation)
    rule = RFLO(feedback=Feedback.SYMMETRIC, decay="leak", mode=mode, targets=BIAS)
    got = rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, rule)[Target.BIAS]
    assert max_rel_err(got, rate_autograd(spec, params, batch, stop_recurrent=True)) < 1e-10


def test_bias_truncation_differs_from_the_exact_gradient_with_recurrence():
    """Negative control: the detach drops W_rec's paths, so bias e-prop is not BPTT when W_rec != 0."""
    spec, params, _, batch = rate_problem()
    exact = rate_autograd(spec, params, batch, stop_recurrent=False)
    assert max_rel_err(rate_autograd(spec, params, batch, stop_recurrent=True), exact) > 1e-3


@pytest.mark.parametrize("rule", [EProp(Feedback.SYMMETRIC, targets=BIAS),
                                  RFLO(feedback=Feedback.SYMMETRIC, decay="leak", targets=BIAS)], ids=["eprop", "rflo"])
def test_feed_forward_bias_update_is_the_exact_gradient(rule):
    """No recurrence: the local bias rule equals BPTT (docs/bias.md, "The rule"), for leaky rate units over time."""
    spec, params, feedback, batch = rate_problem(recurrent=False, seed=3)
    got = rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, rule)[Target.BIAS]
    exact = rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, BPTT(targets=BIAS))[Target.BIAS]
    assert exact.abs().max() > 0
    assert max_rel_err(got, exact) < 1e-10


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
def test_spiking_feed_forward_bias_update_is_the_exact_gradient(adaptive):
    spec = small_spec(adaptive)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, seed=12)
    params = params._replace(w_rec=torch.zeros_like(params.w_rec))
    got = rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, EProp(Feedback.SYMMETRIC, targets=BIAS))
    want = oracle_gradients(spec, params, batch, LossKind.REGRESSION, NO_REG, stop_recurrent=False)[Target.BIAS]
    assert max_rel_err(got[Target.BIAS], want) < 1e-10


def test_bias_only_reads_no_presynaptic_signal_and_keeps_one_trace_per_neuron():
    reads = {(r.signal, r.scope) for r in EProp(targets=BIAS).reads}
    assert (Signal.ELIGIBILITY, Scope.POST) in reads
    assert not any(signal in (Signal.PRE_TRACE, Signal.PRE_SPIKE) for signal, _ in reads)
    assert Signal.OUTPUT_ERROR not in {s for s, _ in reads}, "a frozen readout needs no output error"
    full = {(r.signal, r.scope) for r in EProp().reads}
    assert (Signal.ELIGIBILITY, Scope.SYNAPSE) in full and (Signal.PRE_TRACE, Scope.PRE) in full


def test_training_with_bias_only_leaves_every_weight_untouched():
    spec = load_card("models/bias_vdp.toml", {"train.iterations": 3, "network.n_rec": 20, "train.precision": "float64"})
    start, _ = init_parameters(spec.network, spec.init, torch.Generator().manual_seed(spec.train.seed), torch.float64)
    result = experiment.train(spec, progress=False)
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        assert torch.equal(getattr(result.params, name), getattr(start, name)), name
    assert not torch.equal(result.params.bias, start.bias)
    assert result.curves["loss"][-1] < result.curves["loss"][0]


THRESHOLD = frozenset({Target.THRESHOLD})


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
@pytest.mark.parametrize("mode", list(Mode))
def test_threshold_as_alternative_target_equals_autograd(adaptive, mode):
    """The threshold offset: pre = -1 with no leak, the post term psi (plus ALIF's adaptation path)."""
    spec = small_spec(adaptive, t_ref=2e-3)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, seed=11)  # every neuron near threshold
    params = params._replace(threshold=0.05 * torch.randn(spec.n_rec, generator=torch.Generator().manual_seed(1),
                                                          dtype=torch.float64))
    got = rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION,
                         EProp(Feedback.SYMMETRIC, mode, targets=THRESHOLD))
    want = oracle_gradients(spec, params, batch, LossKind.REGRESSION, NO_REG, stop_recurrent=True)
    assert set(got) == {Target.THRESHOLD} and (want[Target.THRESHOLD] != 0).sum() >= spec.n_rec // 2
    assert max_rel_err(got[Target.THRESHOLD], want[Target.THRESHOLD]) < 1e-10
    # a threshold is not a bias: the bias's pre is the leaky trace of 1, the threshold's is -1
    assert max_rel_err(-got[Target.THRESHOLD], want[Target.BIAS]) > 1e-2


def test_threshold_needs_a_spiking_neuron_and_a_rule_without_a_leaky_trace():
    spec, params, feedback, batch = rate_problem()
    with pytest.raises(ConfigError, match="rate units have no threshold"):
        rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, BPTT(targets=THRESHOLD))
    with pytest.raises(ConfigError, match="learn 'threshold' with rule.name = \"eprop\""):
        RFLO(targets=THRESHOLD)


def test_threshold_learning_on_chips_needs_neuron_parameter_plasticity():
    from neuromorph.hardware.setup import check_run

    card = {"rule.targets": ["threshold"], "network.n_rec": 12, "task.n_in": 10}
    spinnaker = {f.topic: f.level for f in check_run(load_card(
        "models/eprop_sine_chip.toml", {**card, "hardware.profile": "spinnaker2"})).findings}
    assert spinnaker["threshold"] == "ok"
    loihi = next(f for f in check_run(load_card("models/eprop_sine_chip.toml",
                                                 {**card, "hardware.profile": "loihi2"})).findings
                 if f.topic == "threshold")
    assert loihi.level == "rejected" and "learn 'bias' instead" in loihi.message
