r"""Brian2 code of each neuron family, registered by the exact neuron class in :data:`NEURON_CODE`.

An entry (:class:`NeuronCode`) gives the family's extra hidden-group variables, its step (what
follows ``zp = z`` in the hidden group's code, :func:`.equations.hidden_code`), brian2's spike
condition and reset, and the per-neuron values it fixes for a run. The presynaptic traces, the
eligibility and the accumulators are not the family's: they follow from the neuron's stated
eligibility (``low.consts``, :meth:`neuromorph.dynamics.Neuron.eligibility`) and from the rule
(:mod:`.rules`).

The table is keyed by the exact class: a subclass (``class MyLIF(LIFParameters)``) may step
differently, so it is refused at setup (:func:`.support.family_code`) until it has its own
entry. A new family adds one entry here, as the current-based LIF does
(``CubaLIFParameters: CUBA_LIF_CODE``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from neuromorph.backends.brian2.equations import Constants, _num, membrane_code
from neuromorph.dynamics import ALIFParameters, CubaLIFParameters, Filter, LIFParameters, RateParameters
from neuromorph.dynamics.rate import Activation
from neuromorph.plasticity.traces import TraceConstants


def _no_constants(c: TraceConstants) -> dict[str, np.ndarray]:
    return {}


@dataclass(frozen=True)
class NeuronCode:
    """One neuron family's brian2 code.

    ``variables``: hidden-group state beyond the names every family shares (:func:`.equations.hidden_variables`);
    ``step``: one step of the family after ``zp = z``; ``threshold``/``reset``: brian2's spike condition and
    reset (``None``: a rate unit, whose output is recorded as a state); ``constants``: per-neuron values fixed
    for a run, from the stated eligibility (ALIF's :math:`\\beta_j`).
    """

    variables: tuple[str, ...]
    step: Callable[[Constants], str]
    threshold: str | None = "z > 0.5"
    reset: str | None = ""
    constants: Callable[[TraceConstants], dict[str, np.ndarray]] = _no_constants

    @property
    def spikes_as_events(self) -> bool:
        """Whether the outputs are spikes, recorded as events of brian2's threshold mechanism."""
        return self.threshold is not None


# ------------------------------------------------------------------------------------------ LIF, ALIF
def fire_code(k: Constants) -> list[str]:
    r"""Spike, pseudo-derivative and refractory count of :func:`neuromorph.dynamics.lif._fire`.

    .. math::

        z = H(v - A)[r = 0], \quad
        \psi = \tfrac{\gamma}{v_\mathrm{th}}\max(0, 1 - \tfrac{|v - A|}{\delta v_\mathrm{th}})[r = 0], \quad
        r \leftarrow n_\mathrm{ref}\ \text{if}\ z\ \text{else}\ \max(r - 1, 0)

    with the threshold :math:`A` in ``thr``.
    """
    p = k.neuron
    free = "int(r <= 0)"
    return [
        f"z = int(v > thr)*{free}",
        f"psi = {_num(p.pd_height / p.v_th)}*clip(1 - abs(v - thr)/{_num(p.pd_width * p.v_th)}, 0, inf)*{free}",
        f"r = int(z > 0.5)*{p.n_ref(k.spec.dt)} + int(z <= 0.5)*clip(r - 1, 0, inf)",
    ]


def lif_code(k: Constants) -> str:
    r"""One LIF step (:func:`~neuromorph.dynamics.lif.lif_step`): :math:`A = v_\mathrm{th} + \theta`,
    :math:`v = \alpha v + s I - v_\mathrm{th} z^{t-1}` (:func:`.equations.membrane_code`), then :func:`fire_code`."""
    return "\n".join([f"thr = {_num(k.neuron.v_th)} + theta", membrane_code(k), *fire_code(k)])


def alif_code(k: Constants) -> str:
    r"""One ALIF step (:func:`~neuromorph.dynamics.alif.alif_step`).

    :math:`a = \rho a + z^{t-1}`, :math:`A = v_\mathrm{th} + \beta a + \theta`, the LIF membrane and
    :func:`fire_code`; :math:`\rho` is the stated eligibility's (``low.consts``).
    """
    return "\n".join([f"a = {_num(k.c.rho)}*a + zp", f"thr = {_num(k.neuron.v_th)} + beta*a + theta",
                      membrane_code(k), *fire_code(k)])


def _alif_constants(c: TraceConstants) -> dict[str, np.ndarray]:
    """ALIF's per-neuron adaptation strength :math:`\\beta_j`, fixed for the whole run."""
    return {"beta": c.beta.to(torch.float64).numpy()}


# ------------------------------------------------------------------------------------------ rate units
_PHI = {Activation.LINEAR: ("z = v", "psi = 1.0"),
        Activation.TANH: ("z = tanh(v)", "psi = 1.0 - z**2"),
        Activation.RELU: ("z = clip(v, 0, inf)", "psi = 1.0*int(v > 0)")}


def rate_code(k: Constants) -> str:
    r"""One rate-unit step (:func:`~neuromorph.dynamics.rate.rate_step`).

    :math:`u = (1-a)u + aI` (:math:`u = I` when :math:`a = 1`), :math:`r = \phi(u)`, :math:`\psi = \phi'(u)`;
    :math:`a` is the stated eligibility's drive scale.
    """
    a = k.c.s_in
    drive = "(I_in + I_rec + bias)"
    update = f"v = {drive}" if a == 1.0 else f"v = {_num(1.0 - a)}*v + {_num(a)}*{drive}"
    return "\n".join([update, *_PHI[k.neuron.activation]])


# ------------------------------------------------------------------------------------------ current-based LIF
def current_based_lif_code(k: Constants, synaptic: Filter, membrane: Filter) -> str:
    r"""One current-based LIF step from its two filter stages (the synaptic one first).

    .. math::

        i_t = d_\mathrm{syn}\, i_{t-1} + s_\mathrm{syn} I_t, \qquad
        v_t = \alpha v_{t-1} + s\, i_t - v_\mathrm{th} z_{t-1}

    then LIF's threshold and :func:`fire_code`. The current :math:`i` is the brian2 variable ``isyn``
    (brian2 reserves ``i`` for the neuron index). ``synaptic`` is :math:`(d_\mathrm{syn}, s_\mathrm{syn})`
    (``Filter(alpha_syn, 1)``), ``membrane`` :math:`(\alpha, s)`. A chip's integer membrane
    (:func:`.equations.membrane_code`) takes :math:`i_t` as its drive.
    """
    i_update = f"isyn = {_num(synaptic.decay)}*isyn + {_num(synaptic.scale)}*(I_in + I_rec + bias)"
    return "\n".join([f"thr = {_num(k.neuron.v_th)} + theta", i_update,
                      membrane_code(k, drive="isyn", update=membrane), *fire_code(k)])


def _cuba_lif_step(k: Constants) -> str:
    """:func:`current_based_lif_code` with the stated eligibility's stages: (synaptic, membrane)."""
    (synaptic,) = k.c.inner
    return current_based_lif_code(k, synaptic, Filter(k.c.alpha, k.c.s_in))


#: The current-based LIF's entry (state v, z, r, i; eligibility filters (synaptic, membrane)). Its
#: presynaptic traces pass through the synaptic stage first (:func:`.equations.presynaptic_trace_code`, one inner trace per presynaptic source).
CUBA_LIF_CODE = NeuronCode(("isyn",), _cuba_lif_step)

#: brian2 code of each neuron family, by exact class (subclasses are refused: they may step differently).
NEURON_CODE: dict[type, NeuronCode] = {
    LIFParameters: NeuronCode((), lif_code),
    ALIFParameters: NeuronCode(("a", "beta"), alif_code, constants=_alif_constants),
    RateParameters: NeuronCode((), rate_code, threshold=None, reset=None),
    CubaLIFParameters: CUBA_LIF_CODE,
}
