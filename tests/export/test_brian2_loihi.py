"""brian2-loihi port: spike-for-spike equality with neuromorph's own ``loihi1`` simulation, and refusals.

The oracle is :func:`neuromorph.backends.torch.simulate.simulate` under the ``loihi1`` profile's
integer arithmetic (float64), which shares no code with brian2-loihi; the port's mapping
(decay, threshold, weight mantissa/exponent, delays) is what is under test.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from neuromorph.dynamics import ALIFParameters, LIFParameters, ReadoutParameters
from neuromorph.errors import ExportError
from neuromorph.export import brian2_loihi as b2l
from neuromorph.export.chip_image import chip_image
from neuromorph.hardware.numerics import chip_numerics
from neuromorph.hardware.profile import load_profile
from neuromorph.network import NetworkSpec, Parameters

pytest.importorskip("brian2_loihi")

LIMIT = 2**23 - 1  # loihi1 state_bits = 23: neuromorph saturates the membrane at +-(2^23 - 1)


def network(rng, n_in, n_rec, exps, tau_mem=20e-3, input_scaling=True, profile="loihi1", neuron=None, lo=-255):
    """A random network whose weights lie on ``profile``'s grid: mantissas in [lo, 255] x 2^(6+e) state LSBs.

    For a negative exponent ``e`` the mantissas are multiples of 2^-e, so every weight is a whole
    multiple of 2^6 LSBs (what brian2-loihi can express).
    """
    neuron = neuron or LIFParameters(tau_mem=tau_mem, v_th=0.6, input_scaling=input_scaling)
    spec = NetworkSpec(n_in, n_rec, 2, neuron, ReadoutParameters(tau_out=20e-3), 1e-3)
    chip = chip_numerics(load_profile(profile), spec.neuron, spec.dt, "on_chip", 0)

    def mat(shape, e):
        k = rng.integers(lo, 256, shape)
        if e < 0:
            k -= k % 2**-e
        return torch.from_numpy(k * chip.weights.base * 2.0 ** (6 + e))

    w_rec = mat((n_rec, n_rec), exps[1])
    w_rec.fill_diagonal_(0.0)
    params = Parameters(mat((n_rec, n_in), exps[0]), w_rec, torch.from_numpy(rng.normal(size=(2, n_rec))),
                        mat((n_rec,), exps[2]), torch.zeros(2, dtype=torch.float64),
                        torch.zeros(n_rec, dtype=torch.float64))
    params = chip.deploy(params, rechoose=True)  # on the grid already, except the random readout
    return spec, chip, chip_image(spec, params, chip, profile)


def spikes_input(rng, steps, batch, n_in, p):
    return (rng.random((steps, batch, n_in)) < p).astype(np.float64)


def neuromorph_loihi1(spec, image, chip, x):
    """The oracle: neuromorph's torch backend on the image (float64, ``loihi1`` integer membrane).

    Returns the spikes (B, T, n_rec) as uint8 and the lowest membrane state in LSBs.
    """
    from neuromorph.backends.torch.simulate import lower, simulate

    rec = simulate(lower(spec, torch.float64, chip=chip), b2l.image_parameters(image, spec),
                   torch.as_tensor(x, dtype=torch.float64))
    return rec.z.numpy().transpose(1, 0, 2).astype(np.uint8), round(float((rec.v / chip.state.step).min()))


def test_the_cli_writes_the_oracles_spikes():
    """``neuromorph export --brian2-loihi`` stores exactly this oracle's spikes for the script to compare against."""
    from neuromorph.cli_export import loihi1_reference_spikes

    rng = np.random.default_rng(3)
    spec, chip, image = network(rng, 6, 10, (5, 3, 3))
    x = spikes_input(rng, 40, 2, 6, 0.3)
    expected, _ = neuromorph_loihi1(spec, image, chip, x)
    assert expected.sum() > 10
    np.testing.assert_array_equal(loihi1_reference_spikes(spec, image, chip, x), expected)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(n_in=st.integers(1, 8), n_rec=st.integers(1, 12), steps=st.integers(5, 60),
       exps=st.tuples(st.integers(4, 7), st.integers(-2, 6), st.integers(-2, 7)),
       tau_ms=st.sampled_from([2.0, 5.0, 20.0, 100.0]), input_scaling=st.booleans(), p=st.floats(0.1, 0.6),
       lo=st.sampled_from([-255, -64, 0]), seed=st.integers(0, 2**31))
def test_brian2_loihi_spikes_equal_neuromorph_loihi1(n_in, n_rec, steps, exps, tau_ms, input_scaling, p, lo, seed):
    rng = np.random.default_rng(seed)
    spec, chip, image = network(rng, n_in, n_rec, exps, tau_ms * 1e-3, input_scaling, lo=lo)
    x = spikes_input(rng, steps, 1, n_in, p)
    expected, min_state = neuromorph_loihi1(spec, image, chip, x)
    data = b2l.to_brian2_loihi(spec, image)
    got, overflow = b2l.run_port(data, x)
    saturated = min_state <= -LIMIT
    event(f"neuromorph spikes > 0: {bool(expected.any())}; membrane saturated: {saturated}")
    assert overflow == saturated  # the port reports when a membrane reached Loihi's 24-bit limit
    np.testing.assert_array_equal(got, expected)  # with the port's saturation: always spike for spike


def test_plain_brian2_loihi_differs_after_saturation():
    """Without the added clip (``saturate = 0``) a saturated membrane recovers later, and the run says so.

    One neuron, tau 100 ms: five inhibitory inputs of 255 x 2^13 LSBs at step 0 drive it to -10.4e6 < -(2^23 - 1);
    then one excitatory input of the same size every step. From the saturated -8388607 it crosses the
    threshold 2^21 a step earlier than from -10.4e6.
    """
    spec = NetworkSpec(6, 1, 1, LIFParameters(tau_mem=100e-3, v_th=0.6), ReadoutParameters(), 1e-3)
    chip = chip_numerics(load_profile("loihi1"), spec.neuron, spec.dt, "on_chip", 0)
    lsb = chip.weights.base * 2.0 ** (6 + 7)
    z = torch.zeros(1, dtype=torch.float64)
    params = Parameters(torch.tensor([[-255.0] * 5 + [255.0]], dtype=torch.float64) * lsb, torch.zeros(1, 1).double(),
                        torch.ones(1, 1).double(), z, z, z)
    params = chip.deploy(params, rechoose=True)
    image = chip_image(spec, params, chip, "loihi1")
    x = np.zeros((12, 1, 6))
    x[0, 0, :5] = 1
    x[1:, 0, 5] = 1
    expected, min_state = neuromorph_loihi1(spec, image, chip, x)
    assert min_state == -LIMIT and expected.any()
    data = b2l.to_brian2_loihi(spec, image)
    assert int(data["in_exp"]) == 7
    clipped, overflow = b2l.run_port(data, x)
    np.testing.assert_array_equal(clipped, expected)
    plain, overflow_plain = b2l.run_port({**data, "saturate": 0}, x)
    assert overflow and overflow_plain
    first = np.argmax(expected[0, :, 0]), np.argmax(plain[0, :, 0])
    assert first[1] == first[0] + 1, first


def test_a_spiking_recurrent_network_matches_and_wrong_mappings_do_not():
    """A fixed example with many spikes: equal; wrong decays, exponents, thresholds or delays differ (it can fail)."""
    rng = np.random.default_rng(0)
    spec, chip, image = network(rng, 8, 12, (5, 3, 3))
    x = spikes_input(rng, 60, 2, 8, 0.3)
    expected, _ = neuromorph_loihi1(spec, image, chip, x)
    data = b2l.to_brian2_loihi(spec, image)
    from brian2 import defaultclock, prefs

    before = (defaultclock.dt, prefs.codegen.target)
    got, overflow = b2l.run_port(data, x)
    assert (defaultclock.dt, prefs.codegen.target) == before  # LoihiNetwork's global dt = 1 ms is undone
    assert not overflow and expected.sum() > 30 and expected.any(axis=(0, 1)).sum() >= 6
    assert data["rec_w"].size > 0 and (data["rec_w"] < 0).any() and (data["rec_w"] > 0).any()
    np.testing.assert_array_equal(got, expected)
    for wrong in ({"decay_v": data["decay_v"] * 2}, {"rec_exp": data["rec_exp"] + 1},
                  {"threshold_v_mant": data["threshold_v_mant"] * 3 // 4}):
        assert (b2l.run_port({**data, **wrong}, x)[0] != expected).any(), wrong
    late = np.concatenate([np.zeros_like(x[:1]), x[:-1]])  # inputs one step late (a wrong delay convention)
    assert (b2l.run_port(data, late)[0] != expected).any()


def test_mapping_values():
    """Threshold 2^21 LSBs = 2^15 x 2^6; decay_v = round(4096 (1 - e^(-dt/tau))); exponents kept when >= 0."""
    rng = np.random.default_rng(0)
    spec, _, image = network(rng, 3, 4, (7, 0, 2), tau_mem=20e-3)
    data = b2l.to_brian2_loihi(spec, image)
    assert int(data["threshold_v_mant"]) == 2**15 and int(data["decay_I"]) == 4096 and int(data["refractory"]) == 1
    assert int(data["decay_v"]) == round(4096 * (1 - np.exp(-1e-3 / 20e-3)))
    for group, name in (("in", "w_in"), ("rec", "w_rec"), ("bias", "bias")):
        k = image.mantissas[name].reshape(len(image.mantissas[name]), -1)
        c = k.astype(np.int64) * 2 ** (6 + int(image.weight_attrs[name]["exponent"]))  # state LSBs
        mine = np.zeros_like(c)
        mine[data[f"{group}_post"], data[f"{group}_pre"]] = data[f"{group}_w"] * 2 ** (6 + int(data[f"{group}_exp"]))
        np.testing.assert_array_equal(mine, c)
        assert np.abs(data[f"{group}_w"]).max() <= 255


def test_refusals():
    rng = np.random.default_rng(0)
    spec, _, image = network(rng, 2, 3, (5, 5, 5), profile="loihi2")
    with pytest.raises(ExportError, match="emulates Loihi 1.*--profile loihi1"):
        b2l.to_brian2_loihi(spec, image)
    spec, _, image = network(rng, 2, 3, (5, 5, 5), neuron=ALIFParameters(v_th=0.6))
    with pytest.raises(ExportError, match="only CUBA LIF.*ALIFParameters"):
        b2l.to_brian2_loihi(spec, image)
    spec, _, image = network(rng, 2, 3, (5, 5, 5), neuron=LIFParameters(v_th=0.6, t_ref=2e-3))
    with pytest.raises(ExportError, match="t_ref"):
        b2l.to_brian2_loihi(spec, image)
    spec, _, image = network(rng, 2, 3, (5, 5, 5))
    theta = dataclasses.replace(image, floats={**image.floats, "threshold": np.full(3, 0.01)})
    with pytest.raises(ExportError, match="threshold"):
        b2l.to_brian2_loihi(spec, theta)
    fine = dataclasses.replace(image, mantissas={**image.mantissas, "w_in": np.array([[3, 0], [0, 1], [1, 1]])},
                               weight_attrs={**image.weight_attrs, "w_in": {**image.weight_attrs["w_in"], "exponent": -2}})
    with pytest.raises(ExportError, match="w_in: weight exponent -2.*multiple of 2\\^6"):
        b2l.to_brian2_loihi(spec, fine)
    with pytest.raises(ExportError, match="values other than 0 and 1"):
        b2l.check_inputs(np.full((4, 1, 2), 0.5), 2)
