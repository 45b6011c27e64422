"""Run a network exported by ``neuromorph export RUN.h5 --brian2-loihi DIR`` in brian2-loihi.

This file is self-contained (numpy, brian2 and brian2-loihi only; no neuromorph import): the
export copies it verbatim to ``DIR/run.py`` next to ``DIR/network.npz``, and neuromorph imports
the same file to run a port in-process, so the written script and the tested code are one source.

Usage::

    python DIR/run.py [--data DIR/network.npz] [--out DIR/spikes.npz] [--target numpy|cython]

It rebuilds the network (one ``LoihiNeuronGroup``; excitatory and inhibitory ``LoihiSynapses``
per weight matrix; a ``LoihiSpikeGeneratorGroup`` for the inputs and one always-on bias
source; with ``saturate = 1`` a ``run_regularly`` that clips the membrane to Loihi's 24-bit
range after each state update, which brian2-loihi 0.5.2 does not do), runs every stored trial, writes ``spikes`` (trials, T, n_rec) as uint8 and the
host-side readout ``y`` (trials, T, n_out), and, when the data holds neuromorph's own spikes
(``expected_spikes``), prints whether they agree spike for spike (exit status 1 if not).
The mapping from neuromorph's ``loihi1`` arithmetic is documented in
``neuromorph/export/brian2_loihi.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys

import numpy as np

#: Loihi-1 membrane range (24-bit signed): neuromorph saturates there, brian2-loihi does not.
V_LIMIT = 2**23 - 1
GROUPS = ("in", "rec", "bias")


def build(data, inputs: np.ndarray):
    """The brian2-loihi objects of one trial: ``(network, spike monitor, voltage monitor)``.

    ``inputs`` is (T, n_in) with 0/1 entries: input ``i`` spikes at step ``t`` when
    ``inputs[t, i] == 1`` (a generator spike at ``t`` reaches the membrane at step ``t``).
    """
    from brian2_loihi import (
        LoihiNetwork,
        LoihiNeuronGroup,
        LoihiSpikeGeneratorGroup,
        LoihiSpikeMonitor,
        LoihiStateMonitor,
        LoihiSynapses,
        synapse_sign_mode,
    )

    n_in, n_rec = int(data["n_in"]), int(data["n_rec"])
    steps = inputs.shape[0]
    neurons = LoihiNeuronGroup(n_rec, refractory=int(data["refractory"]), threshold_v_mant=int(data["threshold_v_mant"]),
                               decay_v=int(data["decay_v"]), decay_I=int(data["decay_I"]))
    t_idx, i_idx = np.nonzero(np.asarray(inputs))
    sources = {
        "in": LoihiSpikeGeneratorGroup(n_in, indices=i_idx.astype(int), times=t_idx.astype(int)),
        "rec": neurons,
        "bias": LoihiSpikeGeneratorGroup(1, indices=np.zeros(steps, dtype=int), times=np.arange(steps)),
    }
    objects = [neurons, sources["in"], sources["bias"]]
    for group in GROUPS:
        pre, post, w = (np.asarray(data[f"{group}_{k}"]).astype(np.int64) for k in ("pre", "post", "w"))
        for sign, mode in ((1, synapse_sign_mode.EXCITATORY), (-1, synapse_sign_mode.INHIBITORY)):
            keep = sign * w > 0
            if not keep.any():
                continue
            syn = LoihiSynapses(sources[group], neurons, sign_mode=mode, w_exp=int(data[f"{group}_exp"]))
            syn.connect(i=pre[keep], j=post[keep])
            syn.w = w[keep]
            objects.append(syn)
    if int(data.get("saturate", 1)):  # Loihi's membrane saturates at +-(2^23 - 1) (Lava's bit-accurate LIF)
        neurons.run_regularly(f"v = clip(v, {-V_LIMIT}, {V_LIMIT})", when="groups", order=1)
    spikes = LoihiSpikeMonitor(neurons)
    voltage = LoihiStateMonitor(neurons, "v")
    return LoihiNetwork(*objects, spikes, voltage), spikes, voltage


@contextlib.contextmanager
def brian_settings(target: str):
    """brian2 code generation ``target`` inside, brian2's global target and ``defaultclock.dt`` restored after
    (``LoihiNetwork`` sets ``defaultclock.dt`` to 1 ms for the whole process)."""
    from brian2 import defaultclock, prefs

    old_target, old_dt = prefs.codegen.target, defaultclock.dt
    prefs.codegen.target = target
    try:
        yield
    finally:
        prefs.codegen.target = old_target
        defaultclock.dt = old_dt


def run(data, target: str = "numpy") -> tuple[np.ndarray, bool]:
    """Spikes (trials, T, n_rec) as uint8 and whether any membrane reached the 24-bit limit (clipped with
    ``saturate = 1``; beyond it without)."""
    from brian2 import start_scope

    inputs = np.asarray(data["inputs"])
    out = np.zeros(inputs.shape[:2] + (int(data["n_rec"]),), dtype=np.uint8)
    overflow = False
    with brian_settings(target):
        for b, trial in enumerate(inputs):
            start_scope()
            net, spikes, voltage = build(data, trial)
            net.run(trial.shape[0])
            out[b, np.asarray(spikes.t, dtype=int), np.asarray(spikes.i, dtype=int)] = 1
            overflow |= bool(voltage.v.size and np.abs(voltage.v).max() >= V_LIMIT)
    return out, overflow


def readout(data, spikes: np.ndarray) -> np.ndarray:
    """The host-side leaky readout ``y_t = kappa y_{t-1} + s_out (W_out z_t + b_out)`` (float64)."""
    w_out, b_out = np.asarray(data["w_out"], dtype=np.float64), np.asarray(data["b_out"], dtype=np.float64)
    kappa, s_out = float(data["kappa"]), float(data["s_out"])
    y = np.zeros(spikes.shape[:2] + (w_out.shape[0],))
    prev = np.zeros((spikes.shape[0], w_out.shape[0]))
    for t in range(spikes.shape[1]):
        prev = kappa * prev + s_out * (spikes[:, t].astype(np.float64) @ w_out.T + b_out)
        y[:, t] = prev
    return y


def main(argv: list[str] | None = None) -> int:
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, default=here / "network.npz")
    parser.add_argument("--out", type=pathlib.Path, default=here / "spikes.npz")
    parser.add_argument("--target", default="numpy", choices=("numpy", "cython"), help="brian2 code generation")
    args = parser.parse_args(argv)
    with np.load(args.data) as f:
        data = {k: f[k] for k in f.files}
    spikes, overflow = run(data, args.target)
    np.savez_compressed(args.out, spikes=spikes, y=readout(data, spikes))
    trials, steps, n = spikes.shape
    print(f"{args.out}: {trials} trial(s) x {steps} steps x {n} neurons, {int(spikes.sum())} spikes")
    if overflow and int(data.get("saturate", 1)):
        print("note: a membrane reached Loihi's 24-bit limit and was saturated there (as on Loihi and in neuromorph)")
    elif overflow:
        print("warning: a membrane left Loihi's 24-bit range; plain brian2-loihi does not saturate, so spikes may differ")
    if "expected_spikes" in data:
        expected = np.asarray(data["expected_spikes"])
        differ = int((expected != spikes).sum())
        print(f"neuromorph loihi1 spikes: {int(expected.sum())}; differing entries: {differ}"
              f" -> {'identical' if differ == 0 else 'DIFFERENT'}")
        return 0 if differ == 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
