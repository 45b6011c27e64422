"""The compiled loops (``train.engine = "compiled"``, numba) give the torch loop's numbers.

Oracle: the same call on the torch engine. In float64 the forward pass (spikes, pseudo-derivative, readout)
and the factored e-prop gradients agree to 1e-12 (the sums run in another order: event-driven recurrence,
one input product for all steps). In float32 the spikes are identical and the rest agrees to 1e-5 relative.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from neuromorph.backends.base import lower
from neuromorph.backends.torch import compiled
from neuromorph.backends.torch.train import _forward, forward_pass, train_sequence
from neuromorph.dynamics import Activation, CubaLIFParameters, RateParameters, ReadoutParameters
from neuromorph.errors import ConfigError
from neuromorph.network import NetworkSpec
from neuromorph.plasticity import EProp, Mode, RateRegularization, Target
from neuromorph.types import LossKind
from tests.helpers import max_rel_err, random_problem, small_spec

pytestmark = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")

CASES = [dict(adaptive=False), dict(adaptive=False, scaled=True, t_ref=3e-3), dict(adaptive=True, scaled=True)]


def _grads(spec, params, feedback, batch, kind, engine, dtype=torch.float64):
    rule = EProp(mode=Mode.FACTORED, targets=frozenset(Target) - {Target.THRESHOLD},
                 regularization=RateRegularization(strength=0.3, target_hz=10.0))
    captured = {}
    cast = lambda p: p._replace(**{k: getattr(p, k).to(dtype) for k in p._fields if getattr(p, k) is not None})
    train_sequence(lower(spec, dtype, engine=engine), cast(params), feedback.to(dtype), rule, kind, batch.to(dtype),
                   captured.update)
    return captured


def assert_engines_agree(spec, rule, params, feedback, batch, kind=LossKind.REGRESSION):
    """The gradients ``rule`` hands to its optimiser on both engines, float64, to 1e-12."""
    grads = {}
    for engine in ("torch", "compiled"):
        grads[engine] = {}
        train_sequence(lower(spec, torch.float64, engine=engine), params, feedback, rule, kind, batch,
                       grads[engine].update)
    assert set(grads["compiled"]) == set(grads["torch"])
    for target in grads["torch"]:
        assert max_rel_err(grads["compiled"][target], grads["torch"][target]) < 1e-12, target


@pytest.mark.parametrize("case", CASES, ids=["lif", "lif-scaled-refractory", "alif"])
@pytest.mark.parametrize("kind", [LossKind.REGRESSION, LossKind.CLASSIFICATION])
def test_factored_eprop_gradients_equal_the_torch_loop(case, kind):
    spec = small_spec(**case)
    params, feedback, batch = random_problem(spec, kind, n_steps=60, batch=4)
    params = params._replace(threshold=0.02 * torch.randn(spec.n_rec, generator=torch.Generator().manual_seed(3),
                                                          dtype=torch.float64))
    ref = _grads(spec, params, feedback, batch, kind, "torch")
    got = _grads(spec, params, feedback, batch, kind, "compiled")
    assert set(got) == set(ref)
    for target in ref:
        assert max_rel_err(got[target], ref[target]) < 1e-12, target


def _cuba() -> NetworkSpec:
    lif = small_spec(adaptive=False, scaled=True, t_ref=2e-3)
    return dataclasses.replace(lif, neuron=CubaLIFParameters(tau_mem=20e-3, v_th=0.5, t_ref=2e-3, tau_syn=4e-3,
                                                             input_scaling=True))


def _rate(activation: Activation) -> NetworkSpec:
    return NetworkSpec(6, 8, 2, RateParameters(tau=5e-3, activation=activation), ReadoutParameters(tau_out=0.0), 1e-3)


SPECS = {"lif": lambda: small_spec(adaptive=False, scaled=True, t_ref=2e-3), "alif": lambda: small_spec(adaptive=True),
         "cuba": _cuba, "rate-tanh": lambda: _rate(Activation.TANH), "rate-relu": lambda: _rate(Activation.RELU),
         "rate-linear": lambda: _rate(Activation.LINEAR)}


@pytest.mark.parametrize("family", SPECS)
def test_the_compiled_forward_is_the_torch_step(family):
    spec = SPECS[family]()
    params, _, batch = random_problem(spec, LossKind.REGRESSION, n_steps=80, batch=3, gain=0.5 if "rate" in family
                                      else 2.0)
    if spec.spiking:
        params = params._replace(threshold=0.02 * torch.randn(spec.n_rec, generator=torch.Generator().manual_seed(1),
                                                              dtype=torch.float64))
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        p = params._replace(**{k: getattr(params, k).to(dtype) for k in params._fields if getattr(params, k) is not None})
        low = lower(spec, dtype, engine="compiled")
        x = batch.inputs.to(dtype)
        ref = forward_pass(low, p, x, low.initial_state(3))
        got = _forward(low, p, x, low.initial_state(3))
        if spec.spiking:
            assert ref.z.sum() > 20  # the network spikes: the comparison is about spikes
            assert torch.equal(got.z, ref.z) and torch.equal(got.z_prev, ref.z_prev), dtype
        for name in ("z", "psi", "y"):
            assert max_rel_err(getattr(got, name), getattr(ref, name)) < tol, (dtype, name)


@pytest.mark.parametrize("family", ["cuba", "rate-tanh"])
def test_factored_eprop_through_a_compiled_forward_equals_the_torch_loop(family):
    """CUBA LIF (its synaptic trace stage runs in torch) and rate units: the forward is compiled, the gradients equal."""
    spec = SPECS[family]()
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, n_steps=60, batch=2,
                                             gain=0.5 if "rate" in family else 2.0)
    targets = frozenset(Target) - {Target.THRESHOLD}
    rule = EProp(mode=Mode.FACTORED, targets=targets)
    assert_engines_agree(spec, rule, params, feedback, batch)


def test_the_compiled_forward_is_not_used_off_rest_or_for_a_subclass():
    """A carried-over state and a LIF subclass take the torch loop (the kernel starts from rest; a subclass may step
    differently): the result is the torch loop's, bit for bit."""
    spec = small_spec(adaptive=False)
    params, _, batch = random_problem(spec, LossKind.REGRESSION)
    low = lower(spec, torch.float64, engine="compiled")
    state = low.initial_state(3)
    moved = state._replace(y=state.y + 0.1)
    assert torch.equal(_forward(low, params, batch.inputs, moved).y, forward_pass(low, params, batch.inputs, moved).y)

    class MyLIF(type(spec.neuron)):
        pass

    sub = dataclasses.replace(spec, neuron=MyLIF(**dataclasses.asdict(spec.neuron)))
    low = lower(sub, torch.float64, engine="compiled")
    assert torch.equal(_forward(low, params, batch.inputs, low.initial_state(3)).z,
                       forward_pass(low, params, batch.inputs, low.initial_state(3)).z)


def test_an_unknown_engine_is_refused():
    with pytest.raises(ConfigError, match="train.engine"):
        lower(small_spec(adaptive=False), torch.float64, engine="jax")


def test_a_non_finite_membrane_propagates_as_in_torch():
    """An overflowing membrane gives NaN pseudo-derivatives in both paths (torch.clamp keeps NaN, so does the kernel), so
    divergence is caught the same way. Which entries overflow depends on the order of the sums (the input product
    runs over all steps at once here), so only their presence is compared."""
    spec = small_spec(adaptive=False)
    params, _, batch = random_problem(spec, LossKind.REGRESSION)
    params = params._replace(w_in=params.w_in.sign() * 1e308)
    low = lower(spec, torch.float64, engine="compiled")
    ref = forward_pass(low, params, batch.inputs, low.initial_state(3))
    got = _forward(low, params, batch.inputs, low.initial_state(3))
    assert torch.isnan(ref.psi).any() and torch.isnan(got.psi).any()


@pytest.mark.parametrize("family", ["lif", "alif", "cuba", "rate-tanh"])
def test_compiled_simulate_records_the_torch_loop(family):
    from neuromorph.backends.torch.simulate import simulate

    spec = SPECS[family]()
    params, _, batch = random_problem(spec, LossKind.REGRESSION, n_steps=50, batch=2,
                                      gain=0.5 if "rate" in family else 2.0)
    ref = simulate(lower(spec, torch.float64), params, batch.inputs)
    got = simulate(lower(spec, torch.float64, engine="compiled"), params, batch.inputs)
    for name in ("z", "v", "y"):
        assert max_rel_err(getattr(got, name), getattr(ref, name)) < 1e-12, name


@pytest.mark.parametrize("decay", ["jacobian", 0.5])
def test_factored_rflo_through_the_compiled_loops_equals_the_torch_loop(decay):
    """RFLO's factored form: compiled forward (rate units), traces and both anti-causal filters; float64, 1e-12."""
    from neuromorph.plasticity import RFLO

    spec = SPECS["rate-tanh"]()
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, n_steps=60, batch=2, gain=0.5)
    rule = RFLO(decay=decay, targets=frozenset({Target.W_IN, Target.W_REC, Target.BIAS, Target.W_OUT}))
    assert_engines_agree(spec, rule, params, feedback, batch)


@pytest.mark.parametrize("rate", ["batch", "sequence"])
@pytest.mark.parametrize("store", [True, False], ids=["stored", "checkpointed"])
@pytest.mark.parametrize("family", ["lif", "alif", "cuba"])
def test_two_pass_factored_eprop_equals_the_torch_loop(family, store, rate, monkeypatch):
    """The two compiled passes of :mod:`compiled_eprop` (every target, the threshold offset included, symmetric and
    random feedback, the rate regulariser over the batch's or each sequence's rate), with z and ψ kept and with
    checkpoints (segments recomputed backwards, T = 61 not a multiple of K = 8): the torch loop's gradients to
    1e-12 in float64."""
    from neuromorph.backends.torch import compiled_eprop
    from neuromorph.plasticity import Feedback

    if not store:
        monkeypatch.setattr(compiled_eprop, "STORE_BYTES", 0)
    calls = []
    monkeypatch.setattr(compiled_eprop, "eprop_sequence", _spy(compiled_eprop.eprop_sequence, calls))
    spec = SPECS[family]()
    params, feedback, batch = random_problem(spec, LossKind.CLASSIFICATION, n_steps=61, batch=3)
    params = params._replace(threshold=0.02 * torch.randn(spec.n_rec, generator=torch.Generator().manual_seed(3),
                                                          dtype=torch.float64))
    assert compiled_eprop.checkpoint_every(61, 3, spec.n_rec, 8) == ((61, True) if store else (8, False))
    for fb in (Feedback.RANDOM, Feedback.SYMMETRIC):
        rule = EProp(mode=Mode.FACTORED, targets=frozenset(Target), feedback=fb,
                     regularization=RateRegularization(strength=0.3, target_hz=10.0, rate=rate))
        assert_engines_agree(spec, rule, params, feedback, batch, LossKind.CLASSIFICATION)
    assert len(calls) == 2  # the compiled engine's calls ran the two passes


def _spy(fn, calls):
    def wrapped(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)
    return wrapped


def test_two_pass_factored_eprop_keeps_the_sequence_result(monkeypatch):
    """Loss, spike count and mean output of a two-pass call equal the torch loop's (float64)."""
    spec = SPECS["alif"]()
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, n_steps=40, batch=2)
    rule = EProp(mode=Mode.FACTORED, targets=frozenset({Target.W_REC, Target.W_OUT}))
    res = {e: train_sequence(lower(spec, torch.float64, engine=e), params, feedback, rule, LossKind.REGRESSION, batch,
                             lambda g: None) for e in ("torch", "compiled")}
    assert res["compiled"].spike_count == res["torch"].spike_count > 0
    assert res["compiled"].loss == pytest.approx(res["torch"].loss, rel=1e-12)
    assert max_rel_err(res["compiled"].mean_output, res["torch"].mean_output) < 1e-12


@pytest.mark.parametrize("family", ["lif", "alif", "rate-tanh"])
def test_bias_only_eprop_and_bptt_agree_on_both_engines(family):
    """Bias-only tuning (e-prop with ``targets = {bias}``, factored and online) and BPTT (autograd on either engine:
    the compiled engine has no BPTT kernel, so this holds it to the same numbers) give the torch engine's gradients."""
    from neuromorph.plasticity import BPTT

    spec = SPECS[family]()
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, n_steps=50, batch=2,
                                             gain=0.5 if "rate" in family else 2.0)
    for mode in (Mode.FACTORED, Mode.ONLINE):
        assert_engines_agree(spec, EProp(mode=mode, targets=frozenset({Target.BIAS})), params, feedback, batch)
    assert_engines_agree(spec, BPTT(targets=frozenset({Target.W_REC, Target.BIAS, Target.W_OUT})), params, feedback,
                         batch)
