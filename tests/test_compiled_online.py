"""Online e-prop on the compiled engine (``train.engine = "compiled"``) gives the torch online loop's numbers.

Oracle: the same call on the torch engine (:func:`~neuromorph.backends.torch.train.online_sequence`). Updates go
through a plain SGD ``apply`` (the parameters change in place at every window's end, so every window after the
first checks that the kernel reads the updated weights). In float64 every window's gradients, the weights after
the updates and the :class:`~neuromorph.backends.base.SequenceResult` agree to 1e-12 relative (the sums run in
another order); in float32 the spikes are identical.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from neuromorph.backends.base import lower
from neuromorph.backends.torch import compiled
from neuromorph.backends.torch.compiled_online import compiled_online
from neuromorph.backends.torch.train import train_sequence
from neuromorph.dynamics import CubaLIFParameters
from neuromorph.hardware.numerics import chip_numerics
from neuromorph.hardware.profile import load_profile
from neuromorph.plasticity import RFLO, EProp, Feedback, Mode, RateRegularization, Target
from neuromorph.plasticity.optim import Learner, OptimizerName, OptimizerSpec
from neuromorph.types import LossKind
from tests.helpers import max_rel_err, random_problem, small_spec

pytestmark = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")

REG = RateRegularization(strength=0.3, target_hz=10.0)
LR = 2e-3


def _cuba():
    lif = small_spec(adaptive=False, scaled=True, t_ref=2e-3)
    return dataclasses.replace(lif, neuron=CubaLIFParameters(tau_mem=20e-3, v_th=0.5, t_ref=2e-3, tau_syn=4e-3,
                                                             input_scaling=True))


SPECS = {"lif": lambda: small_spec(adaptive=False, scaled=True, t_ref=2e-3), "alif": lambda: small_spec(adaptive=True),
         "cuba": _cuba}


def _problem(family, kind, n_steps=60, batch=3, dtype=torch.float64):
    spec = SPECS[family]()
    params, feedback, trials = random_problem(spec, kind, n_steps=n_steps, batch=batch)
    theta = 0.02 * torch.randn(spec.n_rec, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    params = params._replace(threshold=theta)
    cast = {k: getattr(params, k).to(dtype) for k in params._fields}
    return spec, params._replace(**cast), feedback.to(dtype), trials.to(dtype)


def _train(spec, params, feedback, rule, kind, trials, engine, dtype=torch.float64):
    """One sequence with plain SGD (``w -= LR * grad``) on copies; the gradients of every window, the parameters
    after the updates and the result."""
    p = params._replace(**{k: getattr(params, k).clone() for k in params._fields})
    windows = []

    def apply(grads):
        windows.append({t: g.clone() for t, g in grads.items()})
        for t, g in grads.items():
            getattr(p, t.value).sub_(LR * g)

    result = train_sequence(lower(spec, dtype, engine=engine), p, feedback.clone(), rule, kind, trials, apply)
    return windows, p, result


def _assert_agree(ref, got, tol=1e-12):
    (g_ref, p_ref, r_ref), (g_got, p_got, r_got) = ref, got
    assert len(g_got) == len(g_ref)
    for w_ref, w_got in zip(g_ref, g_got):
        assert set(w_got) == set(w_ref)
        for t in w_ref:
            assert w_got[t].shape == w_ref[t].shape, t
            assert max_rel_err(w_got[t], w_ref[t]) < tol, t
    for name in p_ref._fields:
        assert max_rel_err(getattr(p_got, name), getattr(p_ref, name)) < tol, name
    assert r_ref.spike_count > 50 and r_got.spike_count == r_ref.spike_count
    assert abs(r_got.loss - r_ref.loss) <= tol * abs(r_ref.loss)
    assert max_rel_err(r_got.mean_output, r_ref.mean_output) < tol
    assert r_got.y is None and r_got.z is None and r_got.rule_state == r_ref.rule_state == {}
    for a, b in zip((*r_got.final.neuron, r_got.final.y), (*r_ref.final.neuron, r_ref.final.y)):
        assert a.shape == b.shape and max_rel_err(a, b) < tol


@pytest.mark.parametrize("interval", [None, 7])
@pytest.mark.parametrize("feedback", [Feedback.SYMMETRIC, Feedback.RANDOM])
@pytest.mark.parametrize("kind", [LossKind.REGRESSION, LossKind.CLASSIFICATION])
@pytest.mark.parametrize("family", ["lif", "alif"])
def test_online_eprop_compiled_equals_the_torch_loop(family, kind, feedback, interval):
    spec, params, fb, trials = _problem(family, kind)
    rule = EProp(mode=Mode.ONLINE, feedback=feedback, update_interval=interval, targets=frozenset(Target),
                 regularization=REG)
    _assert_agree(*(_train(spec, params, fb, rule, kind, trials, e) for e in ("torch", "compiled")))


@pytest.mark.parametrize("interval", [None, 7])
@pytest.mark.parametrize("family", ["lif", "alif", "cuba"])
def test_sequence_rate_regulariser_compiled_equals_the_torch_loop(family, interval):
    """``rule.regularization.rate = "sequence"``: the kernel keeps the sum of e and the spike counts per sequence,
    and every window's rate term is each sequence's own (the torch loop's numbers to 1e-12)."""
    spec, params, fb, trials = _problem(family, LossKind.REGRESSION)
    rule = EProp(mode=Mode.ONLINE, update_interval=interval, targets=frozenset(Target),
                 regularization=dataclasses.replace(REG, rate="sequence"))
    _assert_agree(*(_train(spec, params, fb, rule, LossKind.REGRESSION, trials, e) for e in ("torch", "compiled")))


@pytest.mark.parametrize("targets", [{Target.BIAS}, {Target.W_OUT, Target.B_OUT}, {Target.W_IN, Target.THRESHOLD},
                                     {Target.W_REC, Target.W_OUT}], ids=["bias", "readout", "in-threshold", "rec-out"])
def test_any_subset_of_targets(targets):
    spec, params, fb, trials = _problem("alif", LossKind.REGRESSION)
    rule = EProp(mode=Mode.ONLINE, update_interval=11, targets=frozenset(targets), regularization=REG)
    _assert_agree(*(_train(spec, params, fb, rule, LossKind.REGRESSION, trials, e) for e in ("torch", "compiled")))


def test_cuba_lif_filters_through_its_current_stage():
    """CUBA LIF's presynaptic traces pass its synaptic-current stage first (an inner stage), in the kernel too."""
    spec, params, fb, trials = _problem("cuba", LossKind.REGRESSION, n_steps=80)
    rule = EProp(mode=Mode.ONLINE, update_interval=9, targets=frozenset(Target), regularization=REG)
    _assert_agree(*(_train(spec, params, fb, rule, LossKind.REGRESSION, trials, e) for e in ("torch", "compiled")))


def test_adaptive_feedback_is_read_after_every_update():
    """Kolen-Pollack feedback changes in place in the learner at every update: the next window uses the new one."""
    spec, params, fb, trials = _problem("lif", LossKind.REGRESSION)
    rule = EProp(mode=Mode.ONLINE, feedback=Feedback.ADAPTIVE, update_interval=10, regularization=REG)
    out = {}
    for engine in ("torch", "compiled"):
        tensors = {t: torch.nn.Parameter(getattr(params, t.value).clone()) for t in Target}
        learner = Learner(OptimizerSpec(OptimizerName.SGD, lr=LR, weight_decay=0.1), tensors, rule.targets,
                          fb.clone())
        p = params._replace(**{t.value: v for t, v in tensors.items()})
        train_sequence(lower(spec, torch.float64, engine=engine), p, learner.feedback, rule, LossKind.REGRESSION,
                       trials, learner.apply)
        out[engine] = (learner.feedback, p._replace(**{k: v.detach() for k, v in p._asdict().items()}))
    assert max_rel_err(out["compiled"][0], out["torch"][0]) < 1e-12
    for name in params._fields:
        assert max_rel_err(getattr(out["compiled"][1], name), getattr(out["torch"][1], name)) < 1e-12, name


@pytest.mark.parametrize("family", ["lif", "alif"])
def test_float32_spikes_are_identical(family):
    """Every prefix of a float32 sequence ends with the same spikes on both engines: the rasters are identical
    (with updates every 7 steps, so the updated weights drive the later steps)."""
    spec, params, fb, trials = _problem(family, LossKind.REGRESSION, n_steps=40, dtype=torch.float32)
    rule = EProp(mode=Mode.ONLINE, update_interval=7, targets=frozenset(Target), regularization=REG)
    total = 0.0
    for t in range(1, trials.n_steps + 1):
        prefix = dataclasses.replace(trials, inputs=trials.inputs[:t], targets=trials.targets[:t],
                                     mask=trials.mask[:t])
        ref, got = (_train(spec, params, fb, rule, LossKind.REGRESSION, prefix, e, torch.float32)
                    for e in ("torch", "compiled"))
        assert torch.equal(got[2].final.neuron.z, ref[2].final.neuron.z), t
        assert got[2].spike_count == ref[2].spike_count
        total = ref[2].spike_count
        for name in params._fields:
            assert max_rel_err(getattr(got[1], name), getattr(ref[1], name)) < 1e-5, (t, name)
    assert total > 20


def test_the_torch_loop_runs_where_the_kernel_does_not_apply():
    """A chip's arithmetic on a family the kernel has none for (CUBA LIF), a state off rest, a LIF subclass, another
    online rule or the torch engine: ``None``."""
    spec, params, fb, trials = _problem("lif", LossKind.REGRESSION)
    rule = EProp(mode=Mode.ONLINE, targets=frozenset(Target))
    low = lower(spec, torch.float64, engine="compiled")
    rest = low.initial_state(trials.batch_size)
    call = lambda low=low, rule=rule, state=rest, record=False: compiled_online(
        low, params, fb, rule, LossKind.REGRESSION, trials, lambda g: None, state, record)
    assert call() is not None
    assert call(record=True) is not None
    cuba = _cuba()
    chip = chip_numerics(load_profile("loihi2"), cuba.neuron, cuba.dt, "on_chip", 0)
    assert call(low=lower(cuba, torch.float64, chip=chip, engine="compiled")) is None
    assert call(low=lower(spec, torch.float64)) is None
    assert call(state=rest._replace(y=rest.y + 0.1)) is None
    assert call(rule=RFLO(mode=Mode.ONLINE)) is None

    class MyLIF(type(spec.neuron)):
        pass

    sub = dataclasses.replace(spec, neuron=MyLIF(**dataclasses.asdict(spec.neuron)))
    assert call(low=lower(sub, torch.float64, engine="compiled"), state=lower(sub, torch.float64).initial_state(3)) \
        is None


@pytest.mark.parametrize("family", ["lif", "alif", "cuba"])
def test_a_recorded_sequence_is_the_torch_loops_recording(family):
    """``record=True`` runs compiled too: every step's z and y and batch element 0's rule state (traces, ψ, L, δ)
    equal the torch loop's recording (float64, 1e-12), and so do the gradients and the result."""
    spec, params, fb, trials = _problem(family, LossKind.CLASSIFICATION)
    rule = EProp(mode=Mode.ONLINE, update_interval=7, targets=frozenset(Target), regularization=REG)
    runs = {}
    for engine in ("torch", "compiled"):
        windows = []
        res = train_sequence(lower(spec, torch.float64, engine=engine), params, fb, rule, LossKind.CLASSIFICATION,
                             trials, lambda g: windows.append(g), record=True)
        runs[engine] = (windows, res)
    (w_ref, ref), (w_got, got) = runs["torch"], runs["compiled"]
    assert torch.equal(got.z, ref.z) and got.z.shape == (trials.n_steps, trials.batch_size, spec.n_rec)
    assert max_rel_err(got.y, ref.y) < 1e-12
    assert set(got.rule_state) == set(ref.rule_state) == {"pre_trace_in", "pre_trace_rec", "post_term",
                                                           "learning_signal", "output_error"}
    for key, value in ref.rule_state.items():
        assert got.rule_state[key].shape == value.shape, key
        assert max_rel_err(got.rule_state[key], value) < 1e-12, key
    for key in ("post_term", "learning_signal"):  # the compared recordings are not all zeros
        assert float(ref.rule_state[key].abs().sum()) > 0, key
    assert len(w_got) == len(w_ref)
    for a, b in zip(w_got, w_ref):
        for t in b:
            assert max_rel_err(a[t], b[t]) < 1e-12, t
    assert got.spike_count == ref.spike_count and abs(got.loss - ref.loss) <= 1e-12 * abs(ref.loss)
