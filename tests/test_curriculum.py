"""The engine pieces contrastive learning added: teaching, phases, curricula, masks and learning-rate schedules.

Oracles: hand-computed SGD steps (exact), the layered network's structural zeros, and the pairing refusal.
"""

from __future__ import annotations

import pytest
import torch

from neuromorph.backends.base import Curriculum, Presentation, lower, presentation_batch
from neuromorph.dynamics import EnergyRateParameters, FilteredLIFParameters, ReadoutParameters
from neuromorph.engine import Session, run_curriculum
from neuromorph.errors import ConfigError, UnsupportedPairingError
from neuromorph.network import NetworkSpec, layered, layered_masks, layers
from neuromorph.plasticity import Learner, OptimizerName, OptimizerSpec, Target
from neuromorph.plasticity.contrastive import ClassicalContrastive, Contrastive
from neuromorph.types import LossKind

F64 = torch.float64


def layered_session(neuron=None, rule=None, lr=0.1):
    gen = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(3, 2, generator=gen, dtype=F64), torch.randn(2, 3, generator=gen, dtype=F64)
    params = layered(w1, w2, torch.zeros(3, dtype=F64), torch.zeros(2, dtype=F64))
    spec = NetworkSpec(2, 5, 2, neuron or EnergyRateParameters(), ReadoutParameters(tau_out=0.0), 0.5)
    masks = {Target(k): v for k, v in layered_masks(2, 3, 2, F64).items()}
    return Session.create(spec, rule or Contrastive(scale=2.0), LossKind.REGRESSION,
                          OptimizerSpec(OptimizerName.SGD, lr=lr), params, torch.zeros(5, 2, dtype=F64), dtype=F64,
                          masks=masks)


def xor_curriculum(phase, n=3, lr=0.05, reset=False):
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=F64)
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=F64)
    shown = tuple(Presentation(torch.arange(4), phase, lr, reset, record=(i == 0)) for i in range(n))
    return Curriculum(x, y, shown, (0, n), torch.arange(4), 10, 1, (3, 2))


def test_layered_round_trip_and_masks():
    gen = torch.Generator().manual_seed(1)
    w = {"w1": torch.randn(3, 2, generator=gen), "w2": torch.randn(2, 3, generator=gen),
         "b1": torch.randn(3, generator=gen), "b2": torch.randn(2, generator=gen)}
    p = layered(**w)
    assert all(torch.equal(w[k], v) for k, v in layers(p, 3).items())
    assert torch.equal(p.w_rec, p.w_rec.T) and torch.equal(p.w_out @ p.w_rec[:, :3], w["w2"])  # the readout selects the outputs
    m = layered_masks(2, 3, 2, torch.float32)
    assert torch.equal((p.w_rec != 0).float(), m["w_rec"]) and m["w_in"][3:].sum() == 0


def test_learner_keeps_absent_synapses_at_zero_and_follows_the_schedule():
    """SGD with a mask: θ ← (θ − η g) ⊙ M, exactly; set_lr changes η; an empty gradient is no step."""
    w = torch.nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64))
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    learner = Learner(OptimizerSpec(OptimizerName.SGD, lr=0.5), {Target.W_REC: w}, frozenset({Target.W_REC}),
                      zero_diagonal=False, masks={Target.W_REC: mask})
    learner.apply({Target.W_REC: torch.ones(2, 2, dtype=F64)})
    assert torch.equal(w.detach(), torch.tensor([[0.5, 0.0], [0.0, 1.5]], dtype=F64))
    learner.set_lr(0.25)
    learner.apply({})
    assert learner.updates == 1
    learner.apply({Target.W_REC: torch.ones(2, 2, dtype=F64)})
    assert torch.equal(w.detach(), torch.tensor([[0.25, 0.0], [0.0, 1.25]], dtype=F64))
    with pytest.raises(ConfigError):
        learner.set_lr(float("nan"))


def test_local_rule_step_is_minus_lr_times_signal_times_hebbian():
    """One presentation of one positive step: Δθ = η c s₊ g, g = zᵀx/B etc. from the recorded rates (exact order)."""
    session = layered_session(lr=0.1)
    before = {t: p.detach().clone() for t, p in session.params.items()}
    c = xor_curriculum((1.0,), n=1)
    res = session.step(presentation_batch(c, c.presentations[0]), record=True)
    z, x = res.z[0], c.x
    s = Contrastive(scale=2.0).signal(1.0)
    want_rec = (before[Target.W_REC] - 0.1 * (-2.0 * s * (z.T @ z / 4))) * layered_masks(2, 3, 2, F64)["w_rec"]
    want_in = (before[Target.W_IN] - 0.1 * (-2.0 * s * (z.T @ x / 4))) * layered_masks(2, 3, 2, F64)["w_in"]
    torch.testing.assert_close(session.params[Target.W_REC].detach(), want_rec, rtol=0, atol=1e-15)
    torch.testing.assert_close(session.params[Target.W_IN].detach(), want_in, rtol=0, atol=1e-15)
    assert torch.equal(session.params[Target.W_OUT].detach(), before[Target.W_OUT])  # not a target


def test_a_burn_in_step_does_not_learn():
    session = layered_session()
    before = {t: p.detach().clone() for t, p in session.params.items()}
    c = xor_curriculum((0.0, 0.0), n=1)
    session.step(presentation_batch(c, c.presentations[0]))
    assert all(torch.equal(session.params[t].detach(), v) for t, v in before.items())
    assert session.learner.updates == 0


def test_classical_rule_needs_both_phases_and_updates_once():
    session = layered_session(rule=ClassicalContrastive(scale=2.0))
    c = xor_curriculum((-1.0, -1.0, 1.0, 1.0), n=1)
    session.step(presentation_batch(c, c.presentations[0]))
    assert session.learner.updates == 1


def test_clamp_teaching_is_refused_for_a_neuron_that_cannot_hold_a_rate():
    """CHL's clamp needs Neuron.clamp: the filtered-rate LIF does not state it, so the pairing is refused at setup."""
    session = layered_session(neuron=FilteredLIFParameters(), rule=Contrastive(teaching="clamp"))
    c = xor_curriculum((1.0,), n=1)
    with pytest.raises(UnsupportedPairingError, match="clamp"):
        session.step(presentation_batch(c, c.presentations[0]))


def test_clamped_units_hold_the_target_rate():
    rule = Contrastive(teaching="clamp", clamp_margin=0.1)
    low = lower(NetworkSpec(2, 5, 2, EnergyRateParameters(), ReadoutParameters(tau_out=0.0), 0.5), F64)
    session = layered_session(rule=rule)
    state = low.initial_state(4)
    target = torch.tensor([[1.0, 0.0]] * 4, dtype=F64)
    teach = rule.teach(state.neuron.z, target, 1.0, session.parameters, None)
    _, _, state = low.step(session.parameters, state, torch.zeros(4, 2, dtype=F64), teach=teach)
    torch.testing.assert_close(state.y, target * 0.8 + 0.1, rtol=0, atol=1e-15)


def test_run_curriculum_evaluates_carries_state_and_records():
    session = layered_session()
    c = xor_curriculum((-1.0, 1.0, 1.0), n=3)
    res = run_curriculum(session, c)
    assert res.outputs.shape == (2, 4, 2) and res.diverged is None
    assert res.raster["y"].shape == (3, 2) and res.raster["weight"].shape == (3, 2)
    assert not torch.equal(res.outputs[0], res.outputs[1])  # it learned
    assert all(torch.equal(getattr(res.params, t.value), p.detach()) for t, p in session.params.items())


def test_run_curriculum_reports_divergence_and_keeps_the_last_finite_weights():
    session = layered_session(lr=1e308)
    c = xor_curriculum((1.0,) * 20, n=5, lr=1e308)
    res = run_curriculum(session, c)
    assert res.diverged == 1  # after the first evaluation, before the second
    assert all(torch.isfinite(p).all() for p in session.params.values())


def test_a_phased_rule_on_a_task_without_phases_is_refused():
    """`[rule] name = "contrastive"` in a run card would never learn (no phase): refused with the command that works."""
    session = layered_session()
    c = xor_curriculum((1.0,), n=1)
    batch = presentation_batch(c, c.presentations[0])
    with pytest.raises(ConfigError, match="learns in phases.*neuromorph contrastive train"):
        session.step(type(batch)(batch.inputs, batch.targets, batch.mask))
