"""Training under profiles: the ideal profile changes nothing; chip runs stay on their grids and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuromorph import experiment
from neuromorph.config import load_card
from neuromorph.storage import read_run

SMALL = {"task.n_steps": 80, "task.n_in": 10, "network.n_rec": 12, "train.iterations": 4, "train.checkpoint_every": 2,
         "train.precision": "float64", "rule.update_interval": 20}
from tests.helpers import interrupt_at


def small(card="models/eprop_sine_chip.toml", **overrides):
    base = dict(SMALL) if card.endswith("_chip.toml") else {k: v for k, v in SMALL.items() if not k.startswith("rule.")}
    return load_card(card, {**base, **overrides})


@pytest.mark.parametrize("card", ["models/eprop_sine_chip.toml", "models/eprop_sine.toml", "models/bptt_sine.toml"])
def test_ideal_profile_reproduces_unquantised_training_exactly(card):
    plain = experiment.train(small(card), progress=False)
    ideal = experiment.train(small(card, **{"hardware.profile": "ideal"}), progress=False)
    assert ideal.hardware is not None and ideal.hardware.numerics is None
    np.testing.assert_array_equal(plain.curves["loss"], ideal.curves["loss"])
    for a, b in zip(plain.params, ideal.params):
        assert torch.equal(a, b)


def _on_grid(result, name):
    step = result.hardware.numerics.grids.steps[name]
    k = getattr(result.params, name) / step
    return torch.allclose(k, torch.round(k), rtol=0, atol=1e-6), float(k.abs().max())


def test_loihi2_weights_stay_on_their_8_bit_grids():
    result = experiment.train(small(**{"hardware.profile": "loihi2"}), progress=False)
    for name in ("w_in", "w_rec", "w_out"):
        on_grid, top = _on_grid(result, name)
        assert on_grid and top <= 255, name
    assert result.hardware.report.lr == 4 * 2.0**-12  # 1e-3 snapped to m*2^e with |m| <= 7: 4/4096 (2.3 % low)


def test_without_stochastic_rounding_small_updates_are_lost():
    # 100 updates of 0.3 LSB each. Loihi rounds weight updates stochastically (Davies et al. 2018, IEEE Micro
    # 38(1)); without that, updates below half an LSB are lost (docs/hardware.md). Nearest rounding drops every
    # one; stochastic rounding adds 30 LSB in expectation (binomial sd sqrt(100 * 0.3 * 0.7) = 4.58 per weight).
    # loihi2's rng is "shared_per_step" (Lava draws one number per step), so every weight rounds alike.
    result = experiment.train(small(**{"hardware.profile": "loihi2", "train.iterations": 1}), progress=False)
    chip = result.hardware.numerics
    step = chip.grids.steps["w_rec"]
    k0 = (result.params.w_rec / step).round()
    free = k0 < 255 - 60  # far from saturation
    gains = {}
    for rounding, shared in (("nearest", True), ("stochastic", True), ("stochastic", False)):
        chip.rounding, chip.shared_rng, w = rounding, shared, k0 * step
        for _ in range(100):
            w = chip.write("w_rec", w, w + 0.3 * step)
        gains[rounding, shared] = ((w / step).round() - k0)[free]
    assert torch.equal(gains["nearest", True], torch.zeros_like(gains["nearest", True]))
    shared = gains["stochastic", True]
    assert torch.equal(shared, torch.full_like(shared, float(shared[0]))) and abs(float(shared[0]) - 30) < 5 * 4.58
    independent = gains["stochastic", False]
    assert len(set(independent.tolist())) > 1
    assert abs(float(independent.mean()) - 30) < 5 * 4.58 / independent.numel() ** 0.5


def test_offline_mode_keeps_float_shadow_weights():
    result = experiment.train(small("models/bptt_sine.toml", **{"hardware.profile": "loihi2", "hardware.mode": "offline"}),
                              progress=False)
    k = result.params.w_rec / result.hardware.numerics.grids.steps["w_rec"]
    assert not torch.allclose(k, torch.round(k))  # the host's weights are not on the grid ...
    assert np.isfinite(result.curves["loss"]).all()  # ... but the quantised forward pass trained them


def test_chip_run_resumes_with_the_same_random_stream(tmp_path, monkeypatch):
    spec = small(**{"hardware.profile": "loihi2"})
    reference = experiment.train(spec, progress=False)
    out = tmp_path / "run.h5"
    interrupt_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        experiment.train(spec, out=out, progress=False)
    monkeypatch.undo()
    resumed = experiment.train(spec, out=out, progress=False)
    assert resumed.resumed_from == 2
    np.testing.assert_array_equal(resumed.curves["loss"], reference.curves["loss"])
    for a, b in zip(resumed.params, reference.params):
        assert torch.equal(a, b)
    record = read_run(out)
    assert record.attrs["profile"] == "loihi2" and "=> runs" in record.attrs["hardware_report"]
