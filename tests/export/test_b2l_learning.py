"""Trace rules in brian2-loihi (pair STDP, e-prop with error-neuron traces) against an independent replay.

brian2-loihi and the replay (``loihi_engine.py``) draw different random numbers, so their final weights
differ by stochastic rounding. In brian2-loihi 0.5.2 only the trace decays round stochastically (its
weight carry never fires for a rule with a 2^-k scale: pinned below), so the tolerance is the spread the
trace rounding causes, measured: the replay runs R = 300 independent draws of brian2-loihi's engine, and
every brian2-loihi weight must lie within Z = 4.5 standard deviations of the replays' mean (a two-sided
normal tail of 7e-6 per synapse; the test is deterministic, its seeds fixed). The same tolerance
rejects the replay of a wrong timing convention, so the comparison can fail. The published engine
(stochastic weight rounding, Davies et al. 2018) is replayed too, to measure how far brian2-loihi's
truncation moves the weights.
"""

from __future__ import annotations

import numpy as np
import pytest
from loihi_engine import replay  # tests/export/loihi_engine.py (pytest puts this folder on sys.path)

from neuromorph.errors import ExportError
from neuromorph.export.b2l_learning import b2l_scale, eprop_trace_rule, error_trace_synapses, stdp_rule
from neuromorph.export.b2l_script import brian_settings

pytest.importorskip("brian2_loihi")

RUNS, Z = 300, 4.5


@pytest.fixture(autouse=True)
def numpy_target():
    """brian2's numpy target here, brian2's global settings restored after (other tests share the process)."""
    with brian_settings("numpy"):
        yield
STEPS, N_PRE, N_POST = 300, 4, 3


def poisson(rng, p, n):
    return rng.random((STEPS, n)) < p


def generator(spikes):
    from brian2_loihi import LoihiSpikeGeneratorGroup

    t, i = np.nonzero(spikes)
    return LoihiSpikeGeneratorGroup(spikes.shape[1], indices=i.astype(int), times=t.astype(int))


def run_learning(rule, pre, teacher, traces, errors=None, seed=0):
    """Pre generators -> learned mixed-sign synapses (w_exp 0, from 0) -> post neurons that copy ``teacher``.

    The post neurons see only I (decay_v = 4096) and fire iff their teacher generator does: the teacher's
    weight 255 * 2^13 exceeds the threshold 10000 * 2^6 by more than the learned weights can ever add
    (4 * 256 * 2^6), so post spikes, hence traces, do not depend on learning.
    """
    from brian2 import prefs, start_scope
    from brian2 import seed as brian_seed
    from brian2_loihi import LoihiNetwork, LoihiNeuronGroup, LoihiSpikeMonitor, LoihiSynapses, synapse_sign_mode

    prefs.codegen.target = "numpy"
    start_scope()
    brian_seed(seed)
    post = LoihiNeuronGroup(N_POST, refractory=1, threshold_v_mant=10000, decay_v=4096, decay_I=4096)
    src, tch = generator(pre), generator(teacher)
    force = LoihiSynapses(tch, post, sign_mode=synapse_sign_mode.EXCITATORY, w_exp=7)
    force.connect(j="i")
    force.w = np.full(N_POST, 255)
    learn = LoihiSynapses(src, post, dw=rule, sign_mode=synapse_sign_mode.MIXED, w_exp=0, **traces)
    learn.connect()  # all to all; synapse k = (pre k // N_POST, post k % N_POST)
    learn.w = np.zeros(len(learn), dtype=int)
    objects = [post, src, tch, force, learn]
    if errors is not None:
        plus, minus = generator(errors[0]), generator(errors[1])
        objects += [plus, minus, *error_trace_synapses(learn, plus, minus, traces["imp_y1"])]
    monitor = LoihiSpikeMonitor(post)
    LoihiNetwork(*objects, monitor).run(STEPS)
    fired = np.zeros((STEPS, N_POST), dtype=bool)
    fired[np.asarray(monitor.t, dtype=int), np.asarray(monitor.i, dtype=int)] = True
    w = learn.get_states(["w"])["w"]  # the state variable (LoihiSynapses.w returns the value set at the start)
    return np.asarray(w, dtype=np.float64), np.asarray(learn.i[:]), np.asarray(learn.j[:]), fired


def per_synapse(spikes, index):
    return spikes[:, index]


def later(spikes, steps=1):
    """A neuron's spike at t arrives at its synapses at t + 1 (brian2-loihi's schedule)."""
    return np.concatenate([np.zeros((steps, spikes.shape[1]), dtype=bool), spikes[:-steps]])


def within_tolerance(w, replays):
    mean, std = replays.mean(axis=0), replays.std(axis=0, ddof=1)
    return np.abs(w - mean) <= Z * std + 1e-9, mean, std


def test_pair_stdp_matches_the_engine_replay():
    rng = np.random.default_rng(1)
    pre, teacher = poisson(rng, 0.12, N_PRE), poisson(rng, 0.08, N_POST)
    assert stdp_rule() == "2^-2*x1*y0 - 2^-2*y1*x0"  # the pair-STDP rule string, checked to run in brian2-loihi 0.5.2
    rule = stdp_rule(0.5, 0.125)  # potentiation-dominated, so the weights move far from 0
    w, i, j, fired = run_learning(rule, pre, teacher, {"imp_x1": 12, "tau_x1": 6, "imp_y1": 12, "tau_y1": 6})
    np.testing.assert_array_equal(fired, teacher)  # post spikes are the teacher's, independent of learning
    traces = {"x1": (12, 6, "x"), "y1": (12, 6, "y")}

    def stdp(x0, y0, x1, y1):
        return 0.5 * x1 * y0 - 0.125 * y1 * x0

    arrivals = {"x": per_synapse(pre, i), "y": per_synapse(later(teacher), j)}
    replays = replay(stdp, np.zeros(len(w)), arrivals, traces, RUNS, np.random.default_rng(2))
    ok, mean, std = within_tolerance(w, replays)
    assert ok.all(), (w, mean, std)
    assert np.abs(w).max() >= 20 and std.max() < 10  # the weights did learn; the noise is a few mantissa steps
    # a wrong timing convention (post spikes arriving in their own step) is rejected by the same tolerance
    wrong = replay(stdp, np.zeros(len(w)), {**arrivals, "y": per_synapse(teacher, j)}, traces, RUNS,
                   np.random.default_rng(3))
    assert not within_tolerance(w, wrong)[0].all()


def test_eprop_error_traces_match_the_engine_replay():
    rng = np.random.default_rng(4)
    pre = poisson(rng, 0.15, N_PRE)
    teacher = np.zeros((STEPS, N_POST), dtype=bool)  # post spikes play no part in this rule
    rates_plus, rates_minus = np.array([0.2, 0.0, 0.1]), np.array([0.0, 0.2, 0.1])  # L_j > 0, < 0, mixed
    plus, minus = rng.random((STEPS, N_POST)) < rates_plus, rng.random((STEPS, N_POST)) < rates_minus
    eta = 2.0**-6
    rule = eprop_trace_rule(eta)
    assert rule == "-2^-6*u0*x1*y1 + 2^-6*u0*x1*y2"
    params = {"imp_x1": 8, "tau_x1": 4, "imp_y1": 8, "tau_y1": 4, "imp_y2": 8, "tau_y2": 4}
    w, i, j, _ = run_learning(rule, pre, teacher, params, errors=(plus, minus))
    traces = {"x1": (8, 4, "x"), "y1": (8, 4, "y1"), "y2": (8, 4, "y2")}

    def eprop(x0, x1, y1, y2):
        return -eta * x1 * y1 + eta * x1 * y2

    # error generators spike in the start slot: their impulses arrive in the same step
    arrivals = {"x": per_synapse(pre, i), "y1": per_synapse(plus, j), "y2": per_synapse(minus, j)}
    replays = replay(eprop, np.zeros(len(w)), arrivals, traces, RUNS, np.random.default_rng(5))
    ok, mean, std = within_tolerance(w, replays)
    assert ok.all(), (w, mean, std)
    # the third factor sets the sign: positive error depresses, negative error potentiates
    assert (w[j == 0] < 0).all() and (w[j == 1] > 0).all()
    swapped = replay(eprop, np.zeros(len(w)), {**arrivals, "y1": arrivals["y2"], "y2": arrivals["y1"]}, traces, RUNS,
                     np.random.default_rng(6))
    assert not within_tolerance(w, swapped)[0].all()
    # the published engine rounds weight changes stochastically; brian2-loihi truncates them, so its weights
    # move less (most changes here are one mantissa unit, which truncation to the step of 2 drops)
    published = replay(eprop, np.zeros(len(w)), arrivals, traces, RUNS, np.random.default_rng(7), engine="loihi")
    learned = (j != 2)  # the synapses with a one-signed error
    assert (np.abs(w[learned]) < 0.7 * np.abs(published.mean(axis=0)[learned])).all()
    assert not within_tolerance(w, published)[0].all()


def test_brian2_loihi_weight_rounding_fires_only_without_a_scale():
    """Pins the brian2-loihi 0.5.2 / brian2 2.9 behaviour the replay models (``loihi_engine.py``).

    50 synapses see the same trace x1 = 3 every step. ``-u0*x1`` (dw = -3, precision 2) should move each
    weight by -2 or -4 at random, and does; ``-2^-1*u0*x1*x1`` (dw = -4.5 -> -5) should too, but the
    generated ``(constant over dt)`` code reads ``dw_rounded = 0``, so every synapse moves by exactly -4.
    """
    from brian2 import prefs, start_scope
    from brian2 import seed as brian_seed
    from brian2_loihi import LoihiNetwork, LoihiNeuronGroup, LoihiSpikeGeneratorGroup, LoihiSynapses

    prefs.codegen.target = "numpy"
    spread = {}
    for rule in ("-u0*x1", "-2^-1*u0*x1*x1"):
        start_scope()
        brian_seed(0)
        src = LoihiSpikeGeneratorGroup(1, indices=[0], times=[0])
        post = LoihiNeuronGroup(1, threshold_v_mant=100000, decay_v=4096)
        syn = LoihiSynapses(src, post, dw=rule, sign_mode=1, imp_x1=4, tau_x1=100000)  # x1: 4, then 3 for good
        syn.connect(i=np.zeros(50, dtype=int), j=np.zeros(50, dtype=int))
        syn.w = np.zeros(50, dtype=int)
        LoihiNetwork(src, post, syn).run(20)
        spread[rule] = np.unique(syn.get_states(["w"])["w"])
    assert len(spread["-u0*x1"]) > 3  # stochastic: the weights spread
    np.testing.assert_array_equal(spread["-2^-1*u0*x1*x1"], [-8 - 4 * 19])  # deterministic: -8, then -4 per step


def test_rule_scales():
    assert b2l_scale(0.25, "a") == "2^-2" and b2l_scale(3 * 2.0**-7, "a") == "3*2^-7"
    for bad in (2.0**-8, 0.3, 9.0 * 2**-3, -1.0):
        with pytest.raises(ExportError, match="brian2-loihi|positive"):
            b2l_scale(bad, "eta")
