r"""One batch of e-prop sequences as a NEST 3.10 network (``eprop_*_bsshslm_2020`` models).

:func:`run_batch` builds a fresh kernel, presents the ``B`` sequences of a batch one after another
(NEST's e-prop models learn from sequences in time, not from a batch dimension), forces the synapses'
final update and reads the weights back. NEST's ``weight_optimizer`` runs as plain gradient descent
with step :data:`ETA` over ``batch_size = B`` sequences, so the weights it writes are

.. math::

    w' = w - \eta\, \frac{1}{B} \sum_{b=1}^{B} g_b, \qquad
    g_b = \sum_t L^t_{j,b}\, \bar e^t_{ji,b} + r_{j,b} \sum_t e^t_{ji,b}

and :math:`\frac1B\sum_b g_b = (w - w')/\eta` is the e-prop gradient of the batch (Bellec et al. 2020,
eqs. (1)-(4); NEST 3.10, ``eprop_synapse_bsshslm_2020`` and ``weight_optimizer``). The caller's optimiser
applies it (:mod:`neuromorph.backends.nest.backend`).

Units: NEST runs in ms with membranes in mV and ``C_m = 1`` pF; neuromorph's model units are used as mV
and its weights as the jump of the membrane per spike (before the ``1 - alpha`` scaling), seconds become
ms (``dt``, ``tau_*``, ``t_ref``). Every connection has a delay of one step; the generators' offset is one
step, so a recurrent neuron's sequence starts ``OFFSET_REC = 2`` steps after the generators' and the
readout's ``OFFSET_OUT = 3`` steps after (NEST's ``get_shift``), its error signal one step later again.

Lead steps. Every sequence is presented after :data:`LEAD` silent steps, in an update interval of
:math:`U = T + \mathrm{LEAD}` steps: NEST's ``eprop_synapse_bsshslm_2020`` drops a spike that reaches a
recurrent neuron at step 0 of an interval, and, for an input that spikes at step 1 of the next interval, the
last learning-signal term of the interval before. From rest, with no input and zero biases, nothing happens in
the lead steps (no spike, :math:`\bar z = 0`, so no eligibility; they are outside the learning window), so the
interval's sequence is neuromorph's, shifted. The firing-rate regulariser, which NEST normalises by :math:`U`
(:math:`c\,(n/U - f_0\Delta t)/U`), gets :math:`c' = c\,U^2/T^2` and :math:`f_0' = f_0 T/U`, which give
neuromorph's :math:`c\,(n/T - f_0\Delta t)/T` (:func:`regulariser_in_interval`).
"""

from __future__ import annotations

import numpy as np

from neuromorph.backends.nest.mpi import gathered_events, gathered_weights, ranks

#: the gradient-descent step the gradient is read off with (a power of two: dividing by it is exact);
#: a large step makes :math:`w - w'` dominated by the gradient, so the cancellation costs no precision
ETA = 2.0**20
#: silent steps before every sequence in its NEST update interval (module docstring)
LEAD = 2
#: steps from a generator's spike time to the sequence step of a recurrent neuron / the readout
OFFSET_GEN, OFFSET_REC, OFFSET_OUT = 1, 2, 3
#: steps from a sequence's start to the first step of its target signal (generator, three delays)
OFFSET_TARGET = 4
#: the same for the readout bias's current (a step_current_generator): two steps earlier than the target, as
#: measured (the readout membranes then equal torch's to 1e-16 at every step, tests/nest/test_nest_backend.py)
OFFSET_CURRENT = OFFSET_TARGET - 2
#: the step of the extra interval at which every presynaptic neuron is made to spike (final update)
FINAL_UPDATE_STEP = 4
#: steps simulated after the final-update spikes (their delivery through every delay)
FINAL_TAIL = 4


def nest_module():
    """``import nest``, quietly (NEST prints a banner and progress otherwise)."""
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    return nest


def refractory_ms(n_ref: int, res: float) -> float:
    """NEST's ``t_ref`` for neuromorph's ``n_ref`` blocked steps.

    neuromorph blocks the ``n_ref`` steps after a spike; NEST decrements its counter before it tests it,
    so it blocks ``t_ref / dt - 1``: one step more is given to NEST (none stays none).
    """
    return (n_ref + 1) * res if n_ref > 0 else 0.0


def neuron_parameters(neuron, dt: float, c_reg: float, f_target: float) -> tuple[str, list[dict] | dict]:
    """The NEST model and its parameters for a neuromorph LIF or ALIF population (docs/nest.md's table)."""
    res = dt * 1e3
    common = {
        "C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "V_th": float(neuron.v_th), "tau_m": neuron.tau_mem * 1e3,
        "t_ref": refractory_ms(neuron.n_ref(dt), res), "regular_spike_arrival": not neuron.input_scaling,
        "surrogate_gradient_function": "piecewise_linear",
        "surrogate_gradient_height": neuron.pd_height / neuron.v_th,
        "surrogate_gradient_width": neuron.pd_width * neuron.v_th,
        "c_reg": float(c_reg), "f_target": float(f_target),
    }
    if not getattr(neuron, "adaptive", False):
        return "eprop_iaf_bsshslm_2020", common
    adapt = {**common, "adapt_tau": neuron.tau_adapt * 1e3}
    return "eprop_iaf_adapt_bsshslm_2020", adapt


def regulariser_in_interval(c_reg: float, f_target: float, n_steps: int) -> tuple[float, float]:
    r"""NEST's ``(c_reg, f_target)`` for neuromorph's regulariser over sequences of ``n_steps`` in intervals of
    :math:`U = T + \mathrm{LEAD}` steps.

    NEST's per-interval factor is :math:`c'(n/U - f_0'\Delta t)/U` (``write_firing_rate_reg_to_history``);
    :math:`c' = c\,U^2/T^2` and :math:`f_0' = f_0\,T/U` make it :math:`c(n/T - f_0\Delta t)/T`, neuromorph's
    :math:`r_j` for one sequence (:meth:`neuromorph.plasticity.losses.RateRegularization.coefficient`).
    """
    ratio = (n_steps + LEAD) / n_steps
    return c_reg * ratio**2, f_target / ratio


def readout_current(spec, b_out: np.ndarray) -> np.ndarray:
    r"""The readouts' input current (pA) that adds neuromorph's :math:`s_\mathrm{out} b^\mathrm{out}` every step.

    NEST's readout integrates :math:`v_t = \kappa v_{t-1} + P_{i} I_e + P_z \sum_i w_i z_i` with
    :math:`P_i = \tau_m (1-\kappa)/C_m` (``eprop_readout_bsshslm_2020``), neuromorph's
    :math:`y_t = \kappa y_{t-1} + s_\mathrm{out}(W^\mathrm{out} z_t + b^\mathrm{out})`, so
    :math:`I_e = s_\mathrm{out} b^\mathrm{out} / (\tau_m (1-\kappa))` with :math:`C_m = 1`. It is not the readouts'
    constant ``I_e``, which would charge the readout in the lead steps too: a ``step_current_generator`` per
    readout switches it on for the steps of each sequence (:func:`run_batch`).
    """
    tau_ms, kappa = spec.readout.tau_out * 1e3, spec.readout.kappa(spec.dt)
    return np.asarray(b_out, dtype=np.float64) * spec.readout.drive_scale(spec.dt) / (tau_ms * (1.0 - kappa))


def _times(steps: np.ndarray, res: float) -> np.ndarray:
    return np.round(steps.astype(np.float64) * res, 10)


def run_batch(
    spec, weights: dict[str, np.ndarray], feedback: np.ndarray, inputs: np.ndarray, targets: np.ndarray,
    window: int, classification: bool, learned: frozenset[str], c_reg: float, f_target: float, threads: int = 1,
    betas: np.ndarray | None = None, membrane: bool = False, b_out: np.ndarray | None = None,
) -> tuple:
    r"""Simulate the batch and return ``(y, z, gradients)`` (and ``v`` with ``membrane``).

    Parameters
    ----------
    spec : NetworkSpec
        The network (LIF or ALIF neurons, leaky readout).
    weights : dict
        ``w_in`` (n_rec, n_in), ``w_rec`` (n_rec, n_rec), ``w_out`` (n_out, n_rec), float64, post x pre.
    feedback : ndarray
        (n_rec, n_out) learning-signal weights :math:`B_{jk}`, already scaled for NEST's
        :math:`(1-\kappa)` in :math:`\bar e` (:func:`neuromorph.backends.nest.backend.nest_feedback`).
    inputs : ndarray
        (T, B, n_in) bool spike raster.
    targets : ndarray
        (T, B, n_out) target signal of every readout (one-hot classes for cross-entropy).
    window : int
        NEST's learning window: the last ``window`` steps of each sequence carry the error.
    classification : bool
        Cross-entropy readout (softmax over the readouts) instead of mean squared error.
    learned : frozenset of str
        The weight matrices NEST learns; the others are e-prop synapses with ``eta = 0``.
    c_reg, f_target : float
        Firing-rate regulariser: coefficient and target rate (Hz), neuromorph's (rescaled for the lead steps
        here, :func:`regulariser_in_interval`).
    threads : int
        NEST's threads per process: ``total_num_virtual_procs = threads x`` the MPI processes (1 without
        ``mpirun``; :mod:`neuromorph.backends.nest.mpi`).
    betas : ndarray, optional
        (n_rec,) ALIF adaptation strengths (mV per spike).
    membrane : bool
        Also record the recurrent membranes ``v`` (T, B, n_rec), pre-reset as neuromorph's.
    b_out : ndarray, optional
        (n_out,) readout bias, as a current into the readouts during every sequence (:func:`readout_current`).

    Returns
    -------
    y : ndarray
        (T, B, n_out) readout membrane of every step.
    z : ndarray
        (T, B, n_rec) spikes.
    gradients : dict
        ``(w - w') / ETA`` of every learned matrix: the batch's e-prop gradient (module docstring).
    """
    nest = nest_module()
    n_steps, batch, n_in = inputs.shape
    n_rec, n_out, dt = spec.n_rec, spec.n_out, spec.dt
    res = dt * 1e3
    interval = n_steps + LEAD
    total = batch * interval
    nest.ResetKernel()
    comm = ranks(nest)  # under mpirun: recordings and weights are each rank's share, gathered below
    nest.set(resolution=res, total_num_virtual_procs=int(threads) * comm.size, print_time=False,
             eprop_update_interval=interval * res, eprop_learning_window=window * res,
             eprop_reset_neurons_on_update=True)
    model, params = neuron_parameters(spec.neuron, dt, *regulariser_in_interval(c_reg, f_target, n_steps))
    readout_p = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "tau_m": spec.readout.tau_out * 1e3,
                 "regular_spike_arrival": not spec.readout.output_scaling,
                 "loss": "cross_entropy" if classification else "mean_squared_error"}
    gen_in = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    nrns = nest.Create(model, n_rec, params)
    if betas is not None:
        nrns.set([{"adapt_beta": float(b)} for b in betas])
    readout = nest.Create("eprop_readout_bsshslm_2020", n_out, readout_p)
    target_gen = nest.Create("step_rate_generator", n_out)
    final = nest.Create("spike_generator", 1)
    rec_spikes = nest.Create("spike_recorder")
    meter = nest.Create("multimeter", {"record_from": ["V_m"], "interval": res})
    rec_meter = nest.Create("multimeter", {"record_from": ["V_m"], "interval": res}) if membrane else None

    eta_opt = {"type": "gradient_descent", "batch_size": int(batch), "eta": ETA, "Wmin": -np.inf, "Wmax": np.inf}
    nest.SetDefaults("eprop_synapse_bsshslm_2020", {"optimizer": eta_opt, "average_gradient": False})
    # a matrix that is not learned still needs the e-prop synapse's timing (it drops a spike that reaches a
    # recurrent neuron at step 0 of a sequence, the one sent in the last step of the sequence before)
    nest.CopyModel("eprop_synapse_bsshslm_2020", "eprop_synapse_frozen",
                   {"optimizer": {**eta_opt, "eta": 0.0}, "average_gradient": False})
    delay = {"delay": res}

    def syn(name: str, w: np.ndarray) -> dict:
        model = "eprop_synapse_bsshslm_2020" if name in learned else "eprop_synapse_frozen"
        return {"synapse_model": model, **delay, "tau_m_readout": spec.readout.tau_out * 1e3, "weight": w}

    all_to_all = {"rule": "all_to_all", "allow_autapses": bool(spec.self_connections)}
    one_to_one = {"rule": "one_to_one"}
    nest.Connect(gen_in, parrots, one_to_one, {"synapse_model": "static_synapse", **delay})
    nest.Connect(parrots, nrns, all_to_all, syn("w_in", weights["w_in"]))
    w_rec = weights["w_rec"]
    nest.Connect(nrns, nrns, all_to_all, syn("w_rec", w_rec))
    nest.Connect(nrns, readout, all_to_all, syn("w_out", weights["w_out"]))
    nest.Connect(readout, nrns, all_to_all, {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
                                             **delay, "weight": feedback})
    nest.Connect(target_gen, readout, one_to_one, {"synapse_model": "rate_connection_delayed", **delay,
                                                   "receptor_type": 2})
    if classification:  # the softmax's normalisation: every readout's exp(v) to the others
        nest.Connect(readout, readout, {"rule": "all_to_all", "allow_autapses": False},
                     {"synapse_model": "rate_connection_delayed", **delay, "receptor_type": 1})
    # final update: one spike into every parrot and every recurrent neuron in the interval after the batch
    nest.Connect(final, parrots, "all_to_all", {"synapse_model": "static_synapse", **delay, "weight": 1.0})
    force = 1e6 * spec.neuron.v_th / spec.neuron.drive_scale(dt)  # far above any (adaptive) threshold
    nest.Connect(final, nrns, "all_to_all", {"synapse_model": "static_synapse", **delay, "weight": force})
    nest.Connect(nrns, rec_spikes)
    nest.Connect(meter, readout)
    if membrane:
        nest.Connect(rec_meter, nrns)

    starts = OFFSET_GEN + LEAD + interval * np.arange(batch)
    spikes = inputs.astype(bool)
    gen_in.set([{"spike_times": _times(np.concatenate([np.flatnonzero(spikes[:, b, i]) + starts[b]
                                                       for b in range(batch)]), res)} for i in range(n_in)])
    steps = np.arange(total)
    lead = np.zeros((batch, LEAD))
    for k in range(n_out):
        values = np.concatenate([lead, targets[:, :, k].T], axis=1).ravel().astype(np.float64)
        target_gen[k].set(amplitude_times=_times(steps + OFFSET_TARGET, res), amplitude_values=values)
    if b_out is not None and np.any(b_out != 0):  # on for the T steps of every sequence, off in the lead steps
        bias_gen = nest.Create("step_current_generator", n_out)
        nest.Connect(bias_gen, readout, one_to_one, {"synapse_model": "static_synapse", **delay})
        on = interval * np.arange(batch) + LEAD + OFFSET_CURRENT
        switch = _times(np.stack([on, on + n_steps], axis=1).ravel(), res)
        for k, amplitude in enumerate(readout_current(spec, b_out)):
            bias_gen[k].set(amplitude_times=switch, amplitude_values=np.tile([float(amplitude), 0.0], batch))
    t_final = OFFSET_GEN + total + FINAL_UPDATE_STEP
    final.set(spike_times=_times(np.array([t_final]), res))
    # the weights NEST starts from are the ones given (it stores doubles); reading them back, a Python dict per
    # connection in NEST 3.10, would double the dominant cost of a batch (benchmarks/README.md, NEST scaling)
    before = {name: np.array(weights[name], dtype=np.float64) for name in _projections(parrots, nrns, readout)
              if name in learned}
    if "w_rec" in before and not spec.self_connections:
        np.fill_diagonal(before["w_rec"], 0.0)  # no autapse: no connection, and 0 in the read-back matrix
    nest.Simulate((t_final + OFFSET_TARGET + FINAL_TAIL) * res)

    ev = gathered_events(rec_spikes, ("times", "senders"), comm)
    z = _in_sequences(np.asarray(ev["times"]), np.asarray(ev["senders"]) - int(nrns[0].global_id),
                      np.ones(len(ev["times"])), OFFSET_REC, n_steps, batch, n_rec, res)
    y = _recorded(meter, readout, OFFSET_OUT, n_steps, batch, res, comm)
    grads = {}
    for name, (pre, post) in _projections(parrots, nrns, readout).items():
        if name in learned:
            grads[name] = (before[name] - _weights(nest, pre, post, comm)) / ETA
    if membrane:
        return y, z, grads, _recorded(rec_meter, nrns, OFFSET_REC, n_steps, batch, res, comm)
    return y, z, grads


def _in_sequences(times: np.ndarray, index: np.ndarray, values: np.ndarray, offset: int, n_steps: int, batch: int,
                  n: int, res: float) -> np.ndarray:
    """Events at NEST ``times`` (ms) of nodes ``index`` as (T, B, n): sequence step ``j`` of sequence ``b`` is
    stamped ``offset + b U + LEAD + j + 1`` steps (NEST stamps a step's state and spikes with the step's end);
    the lead steps and what follows the batch are dropped."""
    interval = n_steps + LEAD
    out = np.zeros((n_steps, batch, n))
    step = np.round(times / res).astype(np.int64) - offset - 1
    seq, j = step // interval, step % interval - LEAD
    keep = (step >= 0) & (seq < batch) & (j >= 0)
    out[j[keep], seq[keep], index[keep]] = values[keep]
    return out


def _recorded(meter, nodes, offset: int, n_steps: int, batch: int, res: float, comm) -> np.ndarray:
    """A multimeter's ``V_m`` of ``nodes`` (every rank's, ``comm``) as (T, B, n) (:func:`_in_sequences`)."""
    ev = gathered_events(meter, ("times", "senders", "V_m"), comm)
    return _in_sequences(np.asarray(ev["times"]), np.asarray(ev["senders"]) - int(nodes[0].global_id),
                         np.asarray(ev["V_m"]), offset, n_steps, batch, len(nodes), res)


def _projections(parrots, nrns, readout) -> dict:
    return {"w_in": (parrots, nrns), "w_rec": (nrns, nrns), "w_out": (nrns, readout)}


def _weights(nest, pre, post, comm) -> np.ndarray:
    """The (post, pre) weight matrix of the connections from ``pre`` to ``post`` (0 where there is none), over
    every rank (:func:`neuromorph.backends.nest.mpi.gathered_weights`; benchmarks/nest_scaling.py times it)."""
    return gathered_weights(nest, pre, post, comm)
