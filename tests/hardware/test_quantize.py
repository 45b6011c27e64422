"""Bit-exact integer arithmetic against golden values worked out by hand, and property tests.

Every golden sequence below is derived in the comment next to it from the profile's arithmetic
(docs/hardware.md, "What the simulation does with a profile"; :mod:`neuromorph.hardware.quantize`), not
produced by the code under test.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuromorph.dynamics import LIFParameters
from neuromorph.hardware import quantize as q
from neuromorph.hardware.numerics import chip_numerics
from neuromorph.hardware.profile import load_profile

F64 = torch.float64


def fixed_uniform(*values: float):
    """A 'generator' that returns the given xi values, one per call (scalars broadcast)."""
    it = iter(values)
    return lambda like: torch.full(like.shape, next(it), dtype=like.dtype)


# --------------------------------------------------------------------------------------- membrane decay


def test_loihi_mul_shift_decay_golden():
    # tau = 20 ms, dt = 1 ms: alpha = exp(-0.05) = 0.951229; d = round(4096 * 0.048771) = round(199.77) = 200.
    # D(k) = sgn(k) floor(|k| * 3896 / 4096):
    #   1000*3896 = 3,896,000 / 4096 = 951.17 -> 951
    #    951*3896 = 3,705,096 / 4096 = 904.56 -> 904
    #    904*3896 = 3,521,984 / 4096 = 859.86 -> 859
    #    859*3896 = 3,346,664 / 4096 = 817.06 -> 817
    # and toward zero for negatives: -1000 -> -951.
    d = q.decay_constant(math.exp(-1e-3 / 20e-3), 12)
    assert d == 200
    k, seq = torch.tensor([1000.0, -1000.0], dtype=F64), []
    for _ in range(4):
        k = q.mul_shift_decay(k, d, 12)
        seq.append(k.tolist())
    assert seq == [[951, -951], [904, -904], [859, -859], [817, -817]]


def test_xylo_bitshift_decay_golden():
    # tau = 20 ms, dt = 1 ms: dash = round(log2 20) = round(4.32) = 4; D(k) = k - floor(k / 16):
    #   1000 - floor(62.5) = 938;  938 - floor(58.625) = 880;  880 - floor(55.0) = 825
    #   an arithmetic shift floors toward -inf, so negatives lose one more LSB:
    #   -1000 - floor(-62.5) = -937;  -937 - floor(-58.5625) = -878;  -878 - floor(-54.875) = -823
    n = q.shift_constant(20e-3, 1e-3)
    assert n == 4
    k, seq = torch.tensor([1000.0, -1000.0], dtype=F64), []
    for _ in range(3):
        k = q.bitshift_decay(k, n)
        seq.append(k.tolist())
    assert seq == [[938, -937], [880, -878], [825, -823]]


def test_loihi2_membrane_sequence_golden():
    # loihi2: v_th = 0.6 at threshold_lsb = 2^21 LSB, so one LSB is 0.6 / 2^21. A drive of 300 LSB per step
    # (input_scaling off, s = 1) from rest, with d = 200 as above and no spikes:
    #   k1 = D(0)   + 300 = 300
    #   k2 = D(300) + 300 = floor(300*3896/4096) + 300 = floor(285.35) + 300 = 585
    #   k3 = D(585) + 300 = floor(556.43) + 300 = 856
    #   k4 = D(856) + 300 = floor(814.22) + 300 = 1114
    # After a spike (z = 1) the chip resets to zero: k5 = D(1114)*(1 - 1) + 300 = 300.
    neuron = LIFParameters(tau_mem=20e-3, v_th=0.6)
    chip = chip_numerics(load_profile("loihi2"), neuron, 1e-3, "on_chip", seed=0)
    membrane = chip.membrane(neuron, 1e-3)
    lsb = 0.6 / 2**21
    v, seq = torch.zeros(1, dtype=F64), []
    for z in (0.0, 0.0, 0.0, 0.0, 1.0):
        v = membrane(v, torch.tensor([z], dtype=F64), torch.tensor([300 * lsb], dtype=F64))
        seq.append(round(float(v) / lsb))
    assert seq == [300, 585, 856, 1114, 300]


def test_loihi2_membrane_saturates():
    # 24-bit signed voltage saturates at 2^23 - 1 = 8,388,607 (Lava lif/models.py clip):
    # D(8,388,000) = floor(8,388,000 * 3896 / 4096) = 7,978,406, plus 10^6 LSB of drive = 8,978,406 -> 8,388,607.
    neuron = LIFParameters(tau_mem=20e-3, v_th=0.6)
    chip = chip_numerics(load_profile("loihi2"), neuron, 1e-3, "on_chip", seed=0)
    lsb = 0.6 / 2**21
    v = chip.membrane(neuron, 1e-3)(torch.tensor([8_388_000 * lsb], dtype=F64), torch.zeros(1, dtype=F64),
                                    torch.tensor([1e6 * lsb], dtype=F64))
    assert round(float(v) / lsb) == 2**23 - 1


# --------------------------------------------------------------------------------------- traces


def test_trace_decay_nearest_golden():
    # impulse 16, alpha = 0.951229, 7-bit unsigned, nearest rounding; spikes at t = 0 and t = 5:
    #   t0: round(0*a + 16) = 16
    #   t1: round(16*a) = round(15.22) = 15;  t2: round(14.27) = 14;  t3: round(13.32) = 13;  t4: round(12.37) = 12
    #   t5: round(12*a + 16) = round(27.41) = 27
    a = math.exp(-1e-3 / 20e-3)
    k, seq = 0.0, []
    for spike in (1, 0, 0, 0, 0, 1):
        k = float(q.to_grid(torch.tensor(a * k + 16 * spike, dtype=F64), 1.0, 7, False))
        seq.append(k)
    assert seq == [16, 15, 14, 13, 12, 27]


def test_trace_saturates_at_127():
    # 120*a + 16 = 130.15 -> round 130 -> clip to 2^7 - 1 = 127
    a = math.exp(-1e-3 / 20e-3)
    assert float(q.to_grid(torch.tensor(120 * a + 16, dtype=F64), 1.0, 7, False)) == 127


def test_trace_decay_stochastic_golden():
    # Stochastic rounding floor(u + xi) with xi drawn as 0.1, then 0.9, then 0.8:
    #   t0: floor(16 + 0.1) = 16
    #   t1: 16*a = 15.2197; floor(15.2197 + 0.9) = 16 (rounded up: 0.22 + 0.9 >= 1)
    #   t2: 16*a = 15.2197; floor(15.2197 + 0.8) = 16 again
    # whereas nearest rounding gives 16, 15, 14.
    a = math.exp(-1e-3 / 20e-3)
    uniform = fixed_uniform(0.1, 0.9, 0.8)
    k, seq = 0.0, []
    for spike in (1, 0, 0):
        k = float(q.to_grid(torch.tensor(a * k + 16 * spike, dtype=F64), 1.0, 7, False, "stochastic", uniform))
        seq.append(k)
    assert seq == [16, 16, 16]


# --------------------------------------------------------------------------------------- weight updates


@pytest.fixture
def loihi2_chip():
    neuron = LIFParameters(tau_mem=20e-3, v_th=0.6)
    chip = chip_numerics(load_profile("loihi2"), neuron, 1e-3, "on_chip", seed=0)
    chip.grids.steps["w_rec"] = 2.0**-10
    return chip


def test_weight_update_golden(loihi2_chip):
    # Grid step 2^-10, 8-bit + sign weights (|k| <= 255), accumulator 15 bits (loihi2 profile):
    #   k = 100, update 0.3 LSB: nearest -> 100 (the update is lost);
    #   stochastic with xi = 0.75 -> floor(0.3 + 0.75) = 1 -> 101; with xi = 0.5 -> floor(0.8) = 0 -> 100
    #   k = 250, update 10 LSB -> 260 -> saturates at 255;  k = -250, update -10 LSB -> -255
    chip, lsb = loihi2_chip, 2.0**-10
    old = torch.tensor([100 * lsb], dtype=F64)
    chip.rounding = "nearest"
    assert float(chip.write("w_rec", old, old + 0.3 * lsb)) / lsb == 100
    chip.rounding = "stochastic"
    chip.uniform = fixed_uniform(0.75)
    assert float(chip.write("w_rec", old, old + 0.3 * lsb)) / lsb == 101
    chip.uniform = fixed_uniform(0.5)
    assert float(chip.write("w_rec", old, old + 0.3 * lsb)) / lsb == 100
    chip.rounding = "nearest"
    big = torch.tensor([250 * lsb, -250 * lsb], dtype=F64)
    assert (chip.write("w_rec", big, big + torch.tensor([10 * lsb, -10 * lsb], dtype=F64)) / lsb).tolist() == [255, -255]


def test_accumulator_clips_updates(loihi2_chip):
    # A 3-bit accumulator holds |delta| <= 7 LSB: 100 + 20 -> 100 + 7 = 107.
    chip, lsb = loihi2_chip, 2.0**-10
    chip.rounding, chip.accumulator_bits = "nearest", 3
    old = torch.tensor([100 * lsb], dtype=F64)
    assert float(chip.write("w_rec", old, old + 20 * lsb)) / lsb == 107


def test_shared_exponent_golden():
    # loihi2: weight LSB = (0.6 / 2^21) * 2^(6 + e) = 1.8311e-5 * 2^e. For max|w| = 0.05 with 255 levels:
    # e = ceil(log2(0.05 / (255 * 1.8311e-5))) = ceil(log2(10.708)) = ceil(3.42) = 4 -> LSB 2.9297e-4, max 0.0747.
    base = 0.6 / 2**21
    assert q.shared_exponent(0.05, 8, base * 2**6, (-8, 7)) == 4
    assert q.shared_exponent(1e9, 8, base * 2**6, (-8, 7)) == 7  # saturates at the top exponent
    assert q.shared_exponent(0.0, 8, base * 2**6, (-8, 7)) == -8


def test_learning_rate_snap_golden():
    # 3-bit mantissa (|m| <= 7): 1e-3 * 2^12 = 4.096 -> m = 4, e = -12 -> 4/4096 = 9.765625e-4 (2.34 % low);
    # m = 8 at e = -13 would be closer to 8.19 but exceeds 7.
    value, m, e = q.snap_mantissa_exponent(1e-3, 3)
    assert (m, e) == (4, -12) and value == 4 * 2.0**-12
    value, m, e = q.snap_mantissa_exponent(-3e-3, 8)  # 8-bit: -3e-3 * 2^16 = -196.6 -> m = -197, e = -16
    assert (m, e) == (-197, -16) and value == -197 * 2.0**-16


# --------------------------------------------------------------------------------------- properties

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
bits = st.integers(min_value=1, max_value=16)
exps = st.integers(min_value=-12, max_value=4)


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(finite, min_size=1, max_size=20), b=bits, e=exps, signed=st.booleans())
def test_quantize_is_idempotent_and_in_range(xs, b, e, signed):
    x, step = torch.tensor(xs, dtype=F64), 2.0**e
    once = q.quantize(x, step, b, signed)
    assert torch.equal(q.quantize(once, step, b, signed), once)
    k = once / step
    lo, hi = q.int_range(b, signed)
    assert torch.equal(k, torch.round(k)) and bool((k >= lo).all()) and bool((k <= hi).all())


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(finite, min_size=1, max_size=20), b=bits, seed=st.integers(0, 2**31 - 1))
def test_stochastic_rounding_brackets_and_fixes_integers(xs, b, seed):
    x = torch.tensor(xs, dtype=F64)
    uniform = q.uniform_from(torch.Generator().manual_seed(seed))
    r = q.round_stochastic(x, uniform)
    assert bool(((r == torch.floor(x)) | (r == torch.ceil(x))).all())
    k = q.to_grid(x, 1.0, b, True, "stochastic", uniform)
    assert torch.equal(q.to_grid(k, 1.0, b, True, "stochastic", uniform), k)


@settings(max_examples=200, deadline=None)
@given(ks=st.lists(st.integers(-2**30, 2**30), min_size=1, max_size=20), b=bits)
def test_wrap_stays_in_range_and_is_congruent(ks, b):
    k = torch.tensor(ks, dtype=F64)
    w = q.wrap(k, b)
    assert bool((w >= -(2**b)).all()) and bool((w <= 2**b - 1).all())
    assert torch.equal(torch.remainder(w - k, 2.0 ** (b + 1)), torch.zeros_like(k))
    assert torch.equal(q.wrap(w, b), w)


@settings(max_examples=200, deadline=None)
@given(ks=st.lists(st.integers(-2**23, 2**23), min_size=1, max_size=20), d=st.integers(0, 4096), n=st.integers(1, 12))
def test_integer_decays_shrink_toward_zero(ks, d, n):
    k = torch.tensor(ks, dtype=F64)
    for decayed in (q.mul_shift_decay(k, d, 12), q.bitshift_decay(k, n)):
        assert torch.equal(decayed, torch.round(decayed))
        assert bool((decayed.abs() <= k.abs()).all())
        assert bool(((decayed == 0) | (torch.sign(decayed) == torch.sign(k))).all())


def test_stochastic_rounding_is_unbiased():
    # E[floor(u + xi)] = u: the mean of 200,000 roundings of 0.3 is 0.3 within 5 standard errors (sd 0.458).
    uniform = q.uniform_from(torch.Generator().manual_seed(1))
    r = q.round_stochastic(torch.full((200_000,), 0.3, dtype=F64), uniform)
    assert abs(float(r.mean()) - 0.3) < 5 * 0.458 / math.sqrt(200_000)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("profile", ["loihi2", "loihi1"])  # one draw per step shared by all synapses / one per synapse
def test_a_windows_draws_in_one_call_are_the_step_by_step_draws(profile, dtype):
    """:meth:`ChipNumerics.uniform_steps` (what the compiled loops take before a window) equals calling ``uniform``
    for every trace of every step, in order: torch's CPU generator fills tensors element by element."""
    shapes = ((3, 10), (3, 7), (3, 1), (3, 7), (3, 1))
    draws = {}
    for how in ("steps", "one call"):
        chip = chip_numerics(load_profile(profile), LIFParameters(), 1e-3, "on_chip", seed=4)
        if how == "steps":
            per_step = [[chip.uniform(torch.empty(s, dtype=dtype)) for s in shapes] for _ in range(50)]
            draws[how] = [torch.stack([step[i] for step in per_step]) for i in range(len(shapes))]
        else:
            draws[how] = chip.uniform_steps(50, shapes, dtype)
        draws[how].append(torch.rand(3, generator=chip.generator, dtype=dtype))  # the stream continues alike
    for a, b in zip(draws["steps"], draws["one call"]):
        assert a.shape == b.shape and torch.equal(a, b)
