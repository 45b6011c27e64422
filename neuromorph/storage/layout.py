r"""What every dataset of a run file means: dimension names, units and a one-line description.

:func:`~neuromorph.storage.run.write_run` stores these as HDF5 attributes on each dataset (``dims``: one name per
axis, ``units``, ``description``), so a run file explains itself to h5py, ``h5dump`` or xarray without this
package. The table is also the documented layout (``docs/run_files.md``).

Units. Time is in seconds (``/attrs/dt``); firing rates in Hz. The network's membrane, drive and readout are in
the model's own units (the card's ``v_th`` sets the scale: "model units"), so weights are model units per input
event. The task loss (Bellec et al. 2020, Methods; ``neuromorph/plasticity/losses.py``) is

.. math::

    E = \frac{1}{B} \sum_{b,t} m_{t,b}\, \ell(y_{t,b}, y^*_{t,b}), \qquad
    \ell = \tfrac12 \|y - y^*\|^2 \ \text{(regression)}, \quad
    \ell = -\log \mathrm{softmax}(y)_{y^*} \ \text{(classification)},

a sum over the masked steps of a trial (so its scale grows with the number of masked steps), averaged over the
batch; the firing-rate regulariser is not included.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["LOSS_DEFINITIONS", "Meta", "describe", "group_attrs"]


class Meta(NamedTuple):
    """Dimension names (one per axis), units and a description of one dataset."""

    dims: tuple[str, ...]
    units: str
    description: str


#: ``attrs["definition"]`` of ``/curves/loss`` by the run's loss kind (``/attrs/loss``)
LOSS_DEFINITIONS = {
    "regression": "E = 1/B sum_b sum_t m_tb * 0.5 * ||y_tb - y*_tb||^2: summed over the masked steps of a trial "
                  "(its scale grows with them), mean over the batch; the firing-rate regulariser is not included",
    "classification": "E = 1/B sum_b sum_t m_tb * (-log softmax(y_tb)[y*_b]): summed over the masked steps of a "
                      "trial, mean over the batch; the firing-rate regulariser is not included",
}

_TIME_MAJOR = ("time", "trial")
_KNOWN: dict[tuple[str, str], Meta] = {
    ("curves", "loss"): Meta(("iteration",), "1", "task loss of each iteration's batch, before its update"),
    ("curves", "rate_hz"): Meta(("iteration",), "Hz", "mean firing rate over neurons, steps and trials"),
    ("curves", "spike_count"): Meta(("iteration",), "spikes", "spikes of the batch, summed over neurons and steps"),
    ("curves", "accuracy"): Meta(("iteration",), "1", "fraction of trials whose decision is the target class"),
    ("params", "w_in"): Meta(("neuron", "input"), "model units per input event", "input weights, post x pre"),
    ("params", "w_rec"): Meta(("neuron", "neuron_pre"), "model units per spike", "recurrent weights, post x pre"),
    ("params", "w_out"): Meta(("output", "neuron"), "model units per spike", "readout weights, post x pre"),
    ("params", "bias"): Meta(("neuron",), "model units", "constant drive of each neuron"),
    ("params", "b_out"): Meta(("output",), "model units", "readout bias"),
    ("params", "threshold"): Meta(("neuron",), "model units", "offset of each neuron's threshold from v_th"),
    ("params", "feedback"): Meta(("neuron", "output"), "1", "learning-signal feedback matrix B (L = B delta)"),
    ("last", "inputs"): Meta((*_TIME_MAJOR, "input"), "input value (spikes: 0/1)", "the last iteration's inputs"),
    ("last", "spikes"): Meta((*_TIME_MAJOR, "neuron"), "spikes (0/1)", "the last iteration's spikes"),
    ("last", "rates"): Meta((*_TIME_MAJOR, "neuron"), "model units", "the last iteration's unit activities"),
    ("last", "output"): Meta((*_TIME_MAJOR, "output"), "model units", "the last iteration's readout y"),
    ("last", "target"): Meta((*_TIME_MAJOR, "output"), "model units (regression) or class index",
                             "the last iteration's target y*"),
    ("last", "mask"): Meta(_TIME_MAJOR, "1", "loss mask m: 1 where a step enters the loss"),
    ("rule_state", "pre_trace_in"): Meta(("time", "input"), "model units", "presynaptic trace of each input P"),
    ("rule_state", "pre_trace_rec"): Meta(("time", "neuron_pre"), "model units", "presynaptic trace of z_{t-1}"),
    ("rule_state", "post_term"): Meta(("time", "neuron"), "1 / model units", "pseudo-derivative psi"),
    ("rule_state", "learning_signal"): Meta(("time", "neuron"), "model units", "learning signal L = B delta"),
    ("rule_state", "output_error"): Meta(("time", "output"), "model units", "output error delta = dE/dy"),
    ("rule_state", "trace_decay"): Meta(("time", "neuron"), "1", "RFLO's trace decay d_t"),
}

_GROUPS = {
    "curves": "per-iteration curves",
    "params": "the trained parameters at the last write",
    "last": "the last recorded iteration's batch, time-major (time, trial, ...)",
    "rule_state": "the rule's named state of trial 0 (batch element 0) of the last recorded iteration, time-major",
}


def describe(group: str, name: str, ndim: int, attrs: dict) -> Meta:
    """The :class:`Meta` of ``/group/name`` (``ndim`` axes; ``attrs`` the run's ``/attrs``); names outside the
    table get generic axis names (``axis0`` ...) and their group's description."""
    meta = _KNOWN.get((group, name))
    if meta is not None and len(meta.dims) == ndim:
        return meta
    if group in ("last", "rule_state") and ndim >= 1:
        lead = _TIME_MAJOR if group == "last" else ("time",)
        dims = (*lead, *(f"axis{k}" for k in range(len(lead), ndim)))[:ndim]
        return Meta(dims, "model units", f"{name}: {_GROUPS[group]}")
    if group == "curves" and ndim == 1:
        return Meta(("iteration",), "1", f"{name} of each iteration")
    return Meta(tuple(f"axis{k}" for k in range(ndim)), "model units", f"{name}: {_GROUPS.get(group, group)}")


def group_attrs(group: str) -> dict[str, object]:
    """Attributes of a run file's group: its description (and for ``rule_state`` the trial it holds)."""
    out: dict[str, object] = {"description": _GROUPS.get(group, group)}
    if group == "rule_state":
        out["trial"] = 0
    return out
