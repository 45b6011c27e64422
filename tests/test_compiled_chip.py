"""Chip arithmetic on the compiled engine gives the torch loop's integers, bit for bit.

Oracle: the same call on the torch engine (``train.engine = "torch"``), whose chip arithmetic is
:class:`~neuromorph.hardware.numerics.ChipNumerics` (docs/hardware.md). The compiled kernels re-state it operation
for operation in the run's dtype (:func:`neuromorph.backends.torch.compiled._chip_membrane`, ``_project``) and take
stochastic rounding's draws from the same generator in the same order
(:meth:`~neuromorph.hardware.numerics.ChipNumerics.uniform_steps`), so with weights on the chip's grid the membrane
integers, the spikes, the trace integers and the on-chip weight integers are identical (``torch.equal``) in float64,
where every sum of grid values the membrane rounds is exact to far below half an LSB. In float32 the drive
:math:`\sum_i W_{ji} x_i` is itself rounded (to about 2^-24 of its size, a fraction of the 2^21-LSB threshold of
Loihi) and the two engines add it in another order (events against a matrix product), so a membrane integer may
differ by an LSB, and with a subtractive reset the difference is carried on through the decay: there the spikes are
identical and the integers agree to float32's resolution at the threshold (1e-5 of it; Xylo's 4096-LSB
threshold keeps every sum exact, so its integers are identical). States kept in floats (exact or
float32) agree to 1e-12. Covered: Loihi 2 (mul-shift decay, reset to zero, saturation, 7-bit traces with one shared
draw per step), Loihi 1 (one draw per synapse), Xylo (bit-shift decay, subtractive reset, bias on the state grid),
SpiNNaker 2 (float32 state and traces), BrainScaleS-2 (exact state, reset to zero) and variants: two's-complement
wrap-around with a subtractive reset, nearest-rounded traces, float32 state with a reset to zero.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from neuromorph.backends.base import lower
from neuromorph.backends.torch import compiled
from neuromorph.backends.torch.simulate import simulate
from neuromorph.engine import Session
from neuromorph.hardware.numerics import chip_numerics
from neuromorph.hardware.profile import load_profile
from neuromorph.plasticity import EProp, Mode, Target
from neuromorph.plasticity.optim import OptimizerName, OptimizerSpec
from neuromorph.types import LossKind
from tests.helpers import max_rel_err, random_problem, small_spec

pytestmark = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")

#: profile and changes to its state / trace grids
VARIANTS = {
    "loihi2": ("loihi2", {}, {}),
    "loihi1": ("loihi1", {}, {}),
    "xylo": ("xylo", {}, {}),  # Xylo has no on-chip learning: its updates are rounded to nearest, stochastically here
    "spinnaker2": ("spinnaker2", {}, {}),
    "brainscales2": ("brainscales2", {}, {}),
    "wrap-subtract": ("loihi2", {"overflow": "wrap", "reset": "subtract", "bits": 22}, {}),
    "nearest-traces": ("loihi2", {}, {"rounding": "nearest"}),
    "float32-zero": ("spinnaker2", {"reset": "zero"}, {}),
}
SPIKING = {"lif": dict(adaptive=False, scaled=True, t_ref=2e-3), "alif": dict(adaptive=True, scaled=True)}


def _chip(variant: str, spec, mode: str = "on_chip", seed: int = 0):
    name, state, traces = VARIANTS[variant]
    chip = chip_numerics(load_profile(name), spec.neuron, spec.dt, mode, seed)
    if state:
        chip.state = dataclasses.replace(chip.state, **state)
    if traces:
        chip.traces = dataclasses.replace(chip.traces, **traces)
    chip.rounding = "stochastic"  # the update's rounding (Xylo's nearest would drop every update of these tests)
    return chip


def _problem(family: str, dtype, n_steps=120, batch=3):
    spec = small_spec(**SPIKING[family], n_in=10, n_rec=12)
    params, feedback, trials = random_problem(spec, LossKind.REGRESSION, n_steps=n_steps, batch=batch, gain=3.0)
    cast = lambda p: p._replace(**{k: getattr(p, k).to(dtype) for k in p._fields if getattr(p, k) is not None})
    return spec, cast(params), feedback.to(dtype), trials.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("family", SPIKING)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_compiled_forward_pass_is_the_torch_loops_integers(variant, family, dtype):
    spec, params, _, trials = _problem(family, dtype)
    chip = _chip(variant, spec)
    deployed = chip.deploy(params, rechoose=True)
    runs = {e: simulate(lower(spec, dtype, chip=chip, engine=e), deployed, trials.inputs) for e in ("torch", "compiled")}
    ref, got = runs["torch"], runs["compiled"]
    assert float(ref.z.sum()) > 20, "the network should spike"
    assert torch.equal(got.z, ref.z)
    if chip.state.kind != "int":
        assert max_rel_err(got.v, ref.v) < (1e-12 if dtype == torch.float64 else 1e-5)
        return
    k_ref, k_got = ref.v / chip.state.step, got.v / chip.state.step  # the membrane integers
    assert torch.equal(k_ref, torch.round(k_ref)) and torch.equal(k_got, torch.round(k_got))
    if dtype == torch.float64:
        assert torch.equal(k_got, k_ref)
    else:
        assert float((k_got - k_ref).abs().max()) <= 1e-5 * chip.state.threshold_lsb
    assert max_rel_err(got.y, ref.y) < (1e-12 if dtype == torch.float64 else 1e-5)


def test_wrap_around_overflows_in_the_compared_runs():
    """The wrap-around variant is not vacuous: its membrane leaves the 20-bit range, so it differs from saturation."""
    spec, params, _, trials = _problem("lif", torch.float64)
    runs = {}
    for variant in ("wrap-subtract", "saturate"):
        chip = _chip("wrap-subtract", spec)
        if variant == "saturate":
            chip.state = dataclasses.replace(chip.state, overflow="saturate")
        runs[variant] = simulate(lower(spec, torch.float64, chip=chip, engine="compiled"),
                                 chip.deploy(params, rechoose=True), trials.inputs)
    assert not torch.equal(runs["wrap-subtract"].v, runs["saturate"].v)


def _session(spec, params, feedback, chip, engine, dtype, rule):
    return Session.create(spec, rule, LossKind.REGRESSION, OptimizerSpec(name=OptimizerName.SGD, lr=2.0), params,
                          feedback, dtype=dtype, chip=chip, on_chip=chip.mode == "on_chip", engine=engine)


@pytest.mark.parametrize("family", SPIKING)
@pytest.mark.parametrize("variant", ["loihi2", "loihi1", "xylo", "spinnaker2", "wrap-subtract", "nearest-traces"])
def test_online_eprop_learning_on_chip_is_the_torch_loops_integers(variant, family, dtype=torch.float64):
    """Two sequences of on-chip learning (updates every 40 steps, rounded onto the weight grid with the chip's
    stochastic rounding), the second one recorded: weights, spikes and trace integers are identical."""
    spec, params, feedback, trials = _problem(family, dtype)
    rule = EProp(mode=Mode.ONLINE, update_interval=40, targets=frozenset({Target.W_IN, Target.W_REC, Target.W_OUT}))
    out = {}
    for engine in ("torch", "compiled"):
        chip = _chip(variant, spec, seed=5)
        session = _session(spec, params, feedback, chip, engine, dtype, rule)
        first = session.step(trials)
        second = session.step(trials, record=True)
        out[engine] = first, second, session.parameters, chip
    (f_ref, s_ref, p_ref, chip), (f_got, s_got, p_got, _) = out["torch"], out["compiled"]
    for name in ("w_in", "w_rec", "w_out"):
        assert torch.equal(getattr(p_got, name), getattr(p_ref, name)), name
    start = chip.deploy(params, rechoose=True)
    for name in ("w_in", "w_rec"):
        assert float((getattr(p_ref, name) - getattr(start, name)).detach().abs().max()) > 0, f"{name} should learn"
    assert f_got.spike_count == f_ref.spike_count and torch.equal(s_got.z, s_ref.z)
    for key in ("pre_trace_in", "pre_trace_rec", "post_term"):
        assert torch.equal(s_got.rule_state[key], s_ref.rule_state[key]), key
    assert abs(s_got.loss - s_ref.loss) <= 1e-12 * abs(s_ref.loss)
    assert max_rel_err(s_got.rule_state["learning_signal"], s_ref.rule_state["learning_signal"]) < 1e-12


@pytest.mark.parametrize("family", SPIKING)
@pytest.mark.parametrize("variant", ["loihi2", "loihi1", "xylo", "spinnaker2"])
def test_factored_eprop_trained_offline_is_the_torch_loops(variant, family):
    """Offline mode (float shadow weights, quantised forward pass, traces on the chip's grid): the spikes and trace
    integers of a recorded sequence are identical and the shadow weights agree to 1e-12 (float64)."""
    spec, params, feedback, trials = _problem(family, torch.float64)
    rule = EProp(mode=Mode.FACTORED, targets=frozenset({Target.W_IN, Target.W_REC, Target.W_OUT, Target.BIAS}))
    out = {}
    for engine in ("torch", "compiled"):
        session = _session(spec, params, feedback, _chip(variant, spec, "offline", seed=5), engine, torch.float64, rule)
        session.step(trials)
        out[engine] = session.step(trials, record=True), session.parameters
    (r_ref, p_ref), (r_got, p_got) = out["torch"], out["compiled"]
    assert torch.equal(r_got.z, r_ref.z)
    for key in ("pre_trace_in", "pre_trace_rec", "post_term"):
        assert torch.equal(r_got.rule_state[key], r_ref.rule_state[key]), key
    for name in ("w_in", "w_rec", "w_out", "bias"):
        assert max_rel_err(getattr(p_got, name), getattr(p_ref, name)) < 1e-12, name
