"""e-prop equals autograd with stop-gradients (Bellec et al. 2020, Nat. Commun. 11:3625; docs/eprop.md).

Checked: the hand-coded LIF/ALIF e-prop update (eligibility filtered by the readout leak kappa) against
autograd with the recurrent spikes detached, and e-prop = BPTT when there is no recurrence, with the firing-rate
regulariser over the batch's rate (Bellec et al. 2020) and over each sequence's own rate (NEST 3.10).

The oracle is torch autograd through the same step functions with the
recurrent spikes detached and the reset constant; the pseudo-derivative is the
spike function's custom backward. Both are float64; tolerance 1e-10 relative.
"""

import pytest
import torch

from neuromorph.backends.torch import differentiable_run, lower, train_sequence
from neuromorph.network import Parameters
from neuromorph.plasticity import BPTT, EProp, Feedback, Mode, Target
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.tasks.base import LossKind
from tests.helpers import ALL_TARGETS, max_rel_err, oracle_gradients, random_problem, rule_gradients, small_spec

REG = RateRegularization(strength=0.5, target_hz=20.0)
#: the regulariser of each ``rule.regularization.rate``
REGS = {rate: RateRegularization(strength=0.5, target_hz=20.0, rate=rate) for rate in ("batch", "sequence")}


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("kind", list(LossKind))
@pytest.mark.parametrize("scaled", [False, True], ids=["paper", "bellec2020"])
@pytest.mark.parametrize("rate", sorted(REGS))
def test_eprop_equals_autograd_with_stop_gradient(adaptive, mode, kind, scaled, rate):
    spec = small_spec(adaptive, scaled=scaled, t_ref=2e-3)
    params, feedback, batch = random_problem(spec, kind)
    rule = EProp(feedback=Feedback.SYMMETRIC, mode=mode, targets=ALL_TARGETS, regularization=REGS[rate])
    got = rule_gradients(spec, params, feedback, batch, kind, rule)
    want = oracle_gradients(spec, params, batch, kind, REGS[rate], stop_recurrent=True)
    for target in ALL_TARGETS:
        assert want[target].abs().max() > 0, f"oracle gradient of {target} vanished; the test would be vacuous"
        assert max_rel_err(got[target], want[target]) < 1e-10, target


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
def test_eprop_equals_bptt_without_recurrence(adaptive):
    spec = small_spec(adaptive)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, seed=3)
    params = params._replace(w_rec=torch.zeros_like(params.w_rec))
    targets = frozenset({Target.W_IN, Target.W_OUT, Target.BIAS, Target.B_OUT})
    rule = EProp(feedback=Feedback.SYMMETRIC, targets=targets, regularization=REG)
    got = rule_gradients(spec, params, feedback, batch, LossKind.REGRESSION, rule)
    want = oracle_gradients(spec, params, batch, LossKind.REGRESSION, REG, stop_recurrent=False)
    for target in targets:
        assert max_rel_err(got[target], want[target]) < 1e-10, target


def test_bptt_differs_from_eprop_with_recurrence():
    """Negative control: with recurrent weights the two gradients must differ."""
    spec = small_spec(False)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, seed=4)
    exact = oracle_gradients(spec, params, batch, LossKind.REGRESSION, REG, stop_recurrent=False)
    eprop = oracle_gradients(spec, params, batch, LossKind.REGRESSION, REG, stop_recurrent=True)
    assert max_rel_err(eprop[Target.W_REC], exact[Target.W_REC]) > 1e-3


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
@pytest.mark.parametrize("feedback_kind", [Feedback.RANDOM, Feedback.ADAPTIVE])
@pytest.mark.parametrize("rate", sorted(REGS))
def test_online_equals_factored_with_random_feedback(adaptive, feedback_kind, rate):
    spec = small_spec(adaptive, t_ref=2e-3)
    params, feedback, batch = random_problem(spec, LossKind.CLASSIFICATION, seed=5)
    grads = {
        mode: rule_gradients(spec, params, feedback, batch, LossKind.CLASSIFICATION,
                              EProp(feedback=feedback_kind, mode=mode, targets=ALL_TARGETS, regularization=REGS[rate]))
        for mode in Mode
    }
    for target in ALL_TARGETS:
        assert max_rel_err(grads[Mode.ONLINE][target], grads[Mode.FACTORED][target]) < 1e-10


@pytest.mark.parametrize("rate", sorted(REGS))
def test_bptt_rule_matches_autograd_oracle(rate):
    spec = small_spec(True)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, seed=6)
    captured = {}
    train_sequence(lower(spec, torch.float64), params, feedback, BPTT(targets=ALL_TARGETS, regularization=REGS[rate]),
                   LossKind.REGRESSION, batch, captured.update)
    want = oracle_gradients(spec, params, batch, LossKind.REGRESSION, REGS[rate], stop_recurrent=False)
    for target in ALL_TARGETS:
        assert max_rel_err(captured[target], want[target]) < 1e-12


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
def test_eprop_from_a_given_initial_state_equals_autograd(adaptive):
    """Users replaying a network may set the initial state; traces still start at zero."""
    from neuromorph.backends.torch import NetworkState, differentiable_run
    from neuromorph.network import Parameters
    from neuromorph.plasticity.losses import loss_value

    spec = small_spec(adaptive)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, seed=8)
    low = lower(spec, torch.float64)
    g = torch.Generator().manual_seed(9)
    zero = low.initial_state(batch.batch_size)
    neuron = type(zero.neuron)(*(0.4 * torch.rand(s.shape, generator=g, dtype=torch.float64) for s in zero.neuron))
    neuron = neuron._replace(z=(neuron.z > 0.2).double(), r=torch.zeros_like(neuron.r))
    state = NetworkState(neuron, torch.randn(batch.batch_size, spec.n_out, generator=g, dtype=torch.float64))
    captured = {}
    rule = EProp(feedback=Feedback.SYMMETRIC, targets=ALL_TARGETS, regularization=REG)
    train_sequence(low, params, feedback, rule, LossKind.REGRESSION, batch, captured.update, initial_state=state)
    leaves = Parameters(*(p.detach().clone().requires_grad_(True) for p in params))
    y, z = differentiable_run(low, leaves, batch.inputs, stop_recurrent=True, state=state)
    loss = loss_value(LossKind.REGRESSION, y, batch.targets, batch.mask) + REG.value(z, spec.dt)
    want = dict(zip(ALL_TARGETS_ORDER, torch.autograd.grad(loss, list(leaves))))
    for target in ALL_TARGETS:
        assert max_rel_err(captured[target], want[target]) < 1e-10, target


ALL_TARGETS_ORDER = [Target(name) for name in Parameters._fields]


@pytest.mark.parametrize("kind", list(LossKind))
def test_online_without_recording_reports_the_same_loss_spikes_and_decision(kind):
    """Online mode accumulates loss, spikes and the decision step by step (O(1) memory in T)."""
    spec = small_spec(True, t_ref=2e-3)
    params, feedback, batch = random_problem(spec, kind, seed=10)
    low = lower(spec, torch.float64)
    results = {
        (mode, record): train_sequence(low, params, feedback, EProp(mode=mode, targets=ALL_TARGETS), kind, batch,
                                       lambda grads: None, record=record)
        for mode in Mode for record in (False, True)
    }
    reference = results[(Mode.FACTORED, True)]
    assert reference.spike_count > 0
    for (mode, record), res in results.items():
        assert res.loss == pytest.approx(reference.loss, rel=1e-12)
        assert res.spike_count == reference.spike_count
        torch.testing.assert_close(res.mean_output, reference.mean_output, rtol=1e-12, atol=0)
        assert (res.z is None) == (not record) and (res.rule_state == {}) == (not record)


def _sequences(batch, *rows):
    """The trials ``rows`` of ``batch`` (time-major) as a batch of their own."""
    pick = list(rows)
    return type(batch)(batch.inputs[:, pick], batch.targets[:, pick], batch.mask[:, pick])


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
def test_sequence_rate_equals_batch_rate_for_one_sequence_and_differs_by_the_rate_variance(adaptive):
    r"""B = 1: the two regularisers are the same (values and e-prop gradients). B = 3: the values differ by
    :math:`\frac c2\sum_j \mathrm{Var}_b f_{b,j}` (mean of squares minus square of the mean; the population variance
    of each neuron's per-sequence rate), and the e-prop gradients by that difference's autograd stop-gradient
    gradient, computed here from the variance formula directly."""
    spec = small_spec(adaptive, t_ref=2e-3)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, seed=11)
    c = REGS["batch"].strength
    grads = {}
    for label, trials in (("one", _sequences(batch, 1)), ("three", batch)):
        for rate, reg in REGS.items():
            rule = EProp(feedback=Feedback.SYMMETRIC, targets=ALL_TARGETS, regularization=reg)
            grads[label, rate] = rule_gradients(spec, params, feedback, trials, LossKind.REGRESSION, rule)
    for target in ALL_TARGETS:
        assert max_rel_err(grads["one", "sequence"][target], grads["one", "batch"][target]) < 1e-14, target

    leaves = Parameters(*(p.detach().clone().requires_grad_(True) for p in params))
    _, z = differentiable_run(lower(spec, torch.float64), leaves, batch.inputs, stop_recurrent=True)
    rates = z.mean(0)  # (B, n) each sequence's spikes per step
    assert rates.var(0).max() > 1e-3, "the sequences fire alike; the test would be vacuous"
    variance = 0.5 * c * rates.var(0, unbiased=False).sum()
    values = {rate: reg.value(z.detach(), spec.dt) for rate, reg in REGS.items()}
    assert float(values["sequence"] - values["batch"]) == pytest.approx(float(variance.detach()), rel=1e-12)
    z1 = z.detach()[:, :1]
    assert float(REGS["sequence"].value(z1, spec.dt)) == pytest.approx(float(REGS["batch"].value(z1, spec.dt)),
                                                                       rel=1e-15)
    want = dict(zip(ALL_TARGETS_ORDER, torch.autograd.grad(variance, list(leaves), allow_unused=True)))
    hidden = {Target.W_IN, Target.W_REC, Target.BIAS, Target.THRESHOLD}
    for target in ALL_TARGETS:
        diff = grads["three", "sequence"][target] - grads["three", "batch"][target]
        if target in hidden:
            assert want[target].abs().max() > 1e-6 * grads["three", "batch"][target].abs().max(), target
            assert max_rel_err(diff, want[target]) < 1e-9, target
        else:  # the readout does not see the regulariser
            assert diff.abs().max() == 0, target


@pytest.mark.parametrize("adaptive", [False, True], ids=["LIF", "ALIF"])
@pytest.mark.parametrize("mode, interval", [(Mode.FACTORED, None), (Mode.ONLINE, None), (Mode.ONLINE, 7)],
                         ids=["factored", "online", "online-K7"])
def test_sequence_rate_makes_every_update_the_mean_of_each_sequences_own(adaptive, mode, interval):
    r"""``rate = "sequence"`` (NEST 3.10): the update of a batch of B sequences is the mean of the updates each
    sequence gives alone (B = 1, where the two rates agree), window by window: with K-step online updates, each
    window's firing-rate term is :math:`c(n_{b,j}/K - f_0\Delta t)/(BK)` from the window's own spike counts
    :math:`n_{b,j}` of each sequence. The batch's mean rate (``"batch"``) is not (negative control). The
    parameters are held fixed between windows, so the sequences run alone exactly as in the batch."""
    spec = small_spec(adaptive, t_ref=2e-3)
    params, feedback, batch = random_problem(spec, LossKind.CLASSIFICATION, seed=12, n_steps=30, batch=3)
    low = lower(spec, torch.float64)

    def windows(trials, reg):
        out = []
        rule = EProp(feedback=Feedback.RANDOM, mode=mode, update_interval=interval, targets=ALL_TARGETS,
                     regularization=reg)
        train_sequence(low, params, feedback, rule, LossKind.CLASSIFICATION, trials, out.append)
        return out

    alone = [windows(_sequences(batch, b), REGS["sequence"]) for b in range(batch.batch_size)]
    assert len(alone[0]) == (1 if interval is None else 5)
    off = {}
    for rate, reg in REGS.items():
        together = windows(batch, reg)
        for w, got in enumerate(together):
            for target in ALL_TARGETS:
                mean = sum(a[w][target] for a in alone) / batch.batch_size
                off[rate, w, target] = max_rel_err(got[target], mean)
    assert max(v for (rate, *_), v in off.items() if rate == "sequence") < 1e-12
    assert max(v for (rate, *_), v in off.items() if rate == "batch") > 1e-4
