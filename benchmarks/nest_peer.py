#!/usr/bin/env python
"""NEST 3.10 as a peer of ``eprop_speed.py``: the flagship network as NEST's e-prop models, timed on command.

Run by ``eprop_speed.py --nest PYTHON`` with an interpreter that has ``nest-simulator`` (it is not a
dependency of neuromorph: NEST brings its own build). To get one::

    python3.11 -m venv .nest && .nest/bin/pip install nest-simulator==3.10.0 numpy
    .venv/bin/python benchmarks/eprop_speed.py --nest .nest/bin/python

The network is the one of ``models/eprop_sine.toml`` and of NEST's tutorial
``eprop_supervised_regression_sine-waves_bsshslm_2020.py`` (Bellec et al. 2020): 100 frozen Poisson inputs
(5 % spike probability per 1 ms step) through parrot neurons, 100 ``eprop_iaf_bsshslm_2020`` neurons
(tau_m = 30 ms, V_th = 0.03, piecewise-linear surrogate 0.3, firing-rate regularisation c_reg = 300 at
10 Hz), one ``eprop_readout_bsshslm_2020`` (tau_m = 30 ms, mean squared error), random feedback, plain
gradient descent, one update per sequence of T steps (1000 by default), batch B sequences per update. Nothing is
recorded (a quiet simulation, as NEST's own benchmarks run). One thread (``total_num_virtual_procs = 1``).

Arguments: ``BATCH N_UPDATES [T]`` (T = 1000 unless given; ``eprop_speed.py --quick`` passes 100).
Protocol (stdin/stdout, one line each): the worker builds the network and prints ``ready``; each line
``run`` simulates one update (B sequences) and prints the wall seconds; ``quit`` ends it. The build and
NEST's import are outside every timing, as neuromorph's are.
"""

from __future__ import annotations

import sys
import time


def build(batch: int, n_updates: int, T: int = 1000, seed: int = 1):
    """The network, simulated for at most ``n_updates`` updates of ``batch`` sequences of ``T`` steps."""
    import nest
    import numpy as np

    nest.set_verbosity("M_ERROR")
    rng = np.random.default_rng(seed)
    n_in, n_rec = 100, 100
    total = n_updates * batch * T
    nest.ResetKernel()
    nest.set(eprop_learning_window=float(T), eprop_reset_neurons_on_update=True, eprop_update_interval=float(T),
             print_time=False, resolution=1.0, total_num_virtual_procs=1)
    rec = {"C_m": 1.0, "c_reg": 300.0, "E_L": 0.0, "f_target": 10.0, "I_e": 0.0, "regular_spike_arrival": False,
           "surrogate_gradient_function": "piecewise_linear", "surrogate_gradient_height": 0.3 / 0.03,
           "surrogate_gradient_width": 1.0 * 0.03, "t_ref": 0.0, "tau_m": 30.0, "V_m": 0.0, "V_th": 0.03,
           "flush_event_send_interval": float(T)}
    out = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "loss": "mean_squared_error", "regular_spike_arrival": False,
           "tau_m": 30.0, "V_m": 0.0}
    gen_in = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    nrns = nest.Create("eprop_iaf_bsshslm_2020", n_rec, rec)
    readout = nest.Create("eprop_readout_bsshslm_2020", 1, out)
    target = nest.Create("step_rate_generator", 1)
    w_in = (rng.standard_normal((n_in, n_rec)).T / np.sqrt(n_in)).astype(np.float32)
    w_rec = (rng.standard_normal((n_rec, n_rec)).T / np.sqrt(n_rec)).astype(np.float32)
    np.fill_diagonal(w_rec, 0.0)
    w_out = (rng.standard_normal((n_rec, 1)).T / np.sqrt(n_rec)).astype(np.float32)
    w_fb = (rng.standard_normal((n_rec, 1)) / np.sqrt(n_rec)).astype(np.float32)
    nest.SetDefaults("eprop_synapse_bsshslm_2020", {"optimizer": {"type": "gradient_descent", "batch_size": batch,
                                                                   "eta": 1e-4, "Wmin": -100.0, "Wmax": 100.0},
                                                     "average_gradient": False})
    syn = {"synapse_model": "eprop_synapse_bsshslm_2020", "delay": 1.0, "tau_m_readout": 30.0}
    all_to_all = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gen_in, parrots, {"rule": "one_to_one"}, {"synapse_model": "static_synapse", "delay": 1.0})
    nest.Connect(parrots, nrns, all_to_all, {**syn, "weight": w_in})
    nest.Connect(nrns, nrns, all_to_all, {**syn, "weight": w_rec})
    nest.Connect(nrns, readout, all_to_all, {**syn, "weight": w_out})
    nest.Connect(readout, nrns, all_to_all, {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
                                            "delay": 1.0, "weight": w_fb})
    nest.Connect(target, readout, {"rule": "one_to_one"}, {"synapse_model": "rate_connection_delayed", "delay": 1.0,
                                                           "receptor_type": 2})
    spikes = rng.random((T, n_in)) < 0.05
    spikes[0] = False  # NEST's tutorial: no input in the first step of a sequence
    starts = np.arange(0.0, total, T) + 1.0
    gen_in.set([{"spike_times": np.hstack([np.flatnonzero(spikes[:, i]).astype(float) + s for s in starts])}
                for i in range(n_in)])
    t = np.linspace(0.0, 2.0 * np.pi, T)
    signal = sum(a * np.sin(k * t + p) for a, k, p in zip(rng.uniform(0.5, 2.0, 4), (1, 2, 3, 5), rng.uniform(0, 6, 4)))
    signal = (signal - signal[0]) / max(np.abs(signal - signal[0]).max(), 1e-6)
    target.set(amplitude_times=np.arange(0.0, total, 1.0) + 4.0, amplitude_values=np.tile(signal, n_updates * batch))
    nest.Simulate(4.0)  # the delays before the first sequence (generator offset and three connection delays)
    return nest


def main() -> None:
    batch, n_updates = int(sys.argv[1]), int(sys.argv[2])
    T = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    nest = build(batch, n_updates, T)
    duration = float(T) * batch
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        nest.Simulate(duration)
        print(f"{time.perf_counter() - start:.6f}", flush=True)


if __name__ == "__main__":
    main()
