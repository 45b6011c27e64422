r"""Trace rules in brian2-loihi's learning-rule syntax: pair STDP and an on-chip e-prop approximation.

brian2-loihi 0.5.2 (``loihi_synapses.py``) evaluates a rule string every step (learning epoch 1) in
the ``groups`` slot, after the ``synapses`` slot has added spike impulses to the traces
(:math:`x_1 \leftarrow \min(x_1 + i_x, 127)` on a pre spike, likewise :math:`y_k` on a post spike;
:math:`x_0, y_0` are 1 in the step a spike arrives). A neuron's spike at step :math:`t` arrives at
step :math:`t+1`; a generator's spike arrives in its own step. Then, per synapse,

.. math::

    \delta &= \mathrm{sgn}(\Delta)\lceil|\Delta|\rceil, \qquad
    w \leftarrow \mathrm{clip}\big(w + p\,(\mathrm{trunc}(\delta/p) + \mathrm{sgn}(\delta)\,
        [\xi_w < (|\delta| \bmod p)/p]),\ w_\min, w_\max\big) \\
    x &\leftarrow \lfloor x(1 - 1/\tau)\rfloor + [\xi_x < \mathrm{frac}(x(1-1/\tau))]

with :math:`\Delta` the rule's value, :math:`p = 2^{8 - (\mathrm{bits} - [\mathrm{mixed}])}` the
mantissa precision (2 in the mixed sign mode a learned weight that may change sign needs;
range :math:`[-256, 254]`) and independent :math:`\xi \sim U[0,1)` per synapse and step. Note
:math:`\delta` rounds :math:`\Delta` *away from zero* before the stochastic rounding: every
non-zero product moves the weight by at least one mantissa unit in expectation.

**What brian2-loihi 0.5.2 actually executes** (brian2 2.9; numpy target, weight rounding also checked
under cython; measured and pinned in
``tests/export/test_b2l_learning.py``). Its two random terms are brian2 ``(constant over dt)``
subexpressions, which brian2 evaluates in the ``before_start`` slot from the previous step's values:

* the trace carry :math:`[\xi_x < \mathrm{frac}(\cdot)]` uses the fraction of the *previous*
  value's decay (it differs from the equation above only in a step with an impulse);
* the weight carry uses a rule value in which brian2 folds a :math:`2^{-k}` factor to 0 (the
  generated code reads ``dw_rounded = 0``), so for every rule with a negative exponent (all of
  the rules below) the weight update is the deterministic
  :math:`w \leftarrow w + p\,\mathrm{trunc}(\delta/p)`: a change of one mantissa unit is lost at
  :math:`p = 2`. Measured on the e-prop test network (150 steps, before the published engine's
  weights clip): brian2-loihi's weights reach 28-46 % of the published engine's expected change.

So brian2-loihi and a replay of its equations differ only by the trace rounding; that spread
(the standard deviation over replays, a few mantissa steps after 300 steps) is the tolerance the
tests use.

**Pair STDP** (:func:`stdp_rule`): :math:`\Delta = a_+ x_1 y_0 - a_- y_1 x_0` (potentiation at a
post spike by the pre trace, depression at a pre spike by the post trace); the default is
docs/hardware.md's ``2^-2*x1*y0 - 2^-2*y1*x0``.

**e-prop on Loihi 1** (:func:`eprop_trace_rule`, :func:`error_trace_synapses`). e-prop's update
:math:`\Delta W_{ji} = -\eta\sum_t L_j^t \bar e_{ji}^t`, :math:`\bar e = \kappa`-filtered
:math:`\psi_j P_i` (Bellec et al. 2020, eq. 28; :func:`neuromorph.export.loihi_rule.eprop_rules` for
Loihi 2) needs three things Loihi 1 lacks: the pseudo-derivative :math:`\psi_j` (fixed-function
neurons do not expose :math:`v`), a signed third factor (traces are 7-bit unsigned), and a tag
for :math:`\bar e` (brian2-loihi does not emulate ``t``). The approximation here:

* :math:`\psi_j \equiv 1`; the pre trace :math:`x_1 \approx P_i/\Delta_x` is the eligibility;
* the learning signal is rate-coded by **error neurons** :math:`E^+_j, E^-_j` whose spikes
  drive post traces :math:`y_1 \approx [L_j]_+/\Delta_L`, :math:`y_2 \approx [L_j]_-/\Delta_L` of
  every synapse onto :math:`j` (a brian2 ``Synapses`` from the error group *to the synapses
  object*, the pattern of brian2's Izhikevich 2007 dopamine example; the post neuron's own spikes
  no longer touch :math:`y_1, y_2`). The :math:`y` decay :math:`\tau_y` low-pass filters the error
  spikes (the readout's :math:`\kappa` filter moves from the eligibility to the signal);
* the rule, evaluated every step (dependency ``u0``):

  .. math::

      \Delta = -\eta\, u_0 x_1 y_1 + \eta\, u_0 x_1 y_2, \qquad
      \eta = \mathrm{lr}\,\Delta_x \Delta_L/\Delta_W

  (:func:`neuromorph.export.loihi_rule.eta_on_chip` with :math:`\Delta_\psi = 1`), written as
  :math:`m 2^e` with :math:`e \in [-7, 9]` (brian2-loihi's parser).

This is Loihi 1's third-factor route with spiking error neurons instead of nengo-loihi's host-
written traces (docs/hardware.md, "Third factor in practice").
"""

from __future__ import annotations

import math

import numpy as np

from neuromorph.errors import ExportError

__all__ = ["b2l_scale", "eprop_trace_rule", "error_trace_synapses", "stdp_rule"]

#: brian2-loihi's parser accepts 2^-7 .. 2^9 (``2\^\+?[0-9]|2\^-?[0-7]``, loihi_synapses.py).
EXPONENTS = (-7, 9)
MANTISSA_MAX = 7  #: a 3-bit scale mantissa (Loihi's engine; docs/hardware.md "Rule form")


def b2l_scale(value: float, where: str) -> str:
    """``value`` as ``m*2^e`` text brian2-loihi parses, exactly; :class:`ExportError` otherwise."""
    if value <= 0 or not math.isfinite(value):
        raise ExportError(f"{where}: a rule scale must be positive and finite, got {value}")
    for e in range(EXPONENTS[1], EXPONENTS[0] - 1, -1):  # largest e first: the reduced (odd) mantissa
        m = value / 2.0**e
        if m == int(m) and 1 <= m <= MANTISSA_MAX:
            return ("" if m == 1 else f"{int(m)}*") + f"2^{e}"
    raise ExportError(f"{where}: scale {value:.6g} is not m*2^e with m in 1..{MANTISSA_MAX}, e in "
                      f"[{EXPONENTS[0]}, {EXPONENTS[1]}] (brian2-loihi's rule parser)")


def stdp_rule(a_plus: float = 0.25, a_minus: float = 0.25) -> str:
    """Pair STDP ``a+*x1*y0 - a-*y1*x0`` in brian2-loihi syntax (``dw`` argument of ``LoihiSynapses``)."""
    return f"{b2l_scale(a_plus, 'STDP a+')}*x1*y0 - {b2l_scale(a_minus, 'STDP a-')}*y1*x0"


def eprop_trace_rule(eta: float) -> str:
    """``-eta*u0*x1*y1 + eta*u0*x1*y2``: e-prop with the error in y1 (positive part) and y2 (negative part)."""
    scale = b2l_scale(eta, "e-prop eta")
    return f"-{scale}*u0*x1*y1 + {scale}*u0*x1*y2"


def error_trace_synapses(synapses, error_plus, error_minus, impulse: int):
    """Let error neurons drive the post traces y1 (``error_plus``) and y2 (``error_minus``) of ``synapses``.

    ``synapses`` is a ``LoihiSynapses`` built with ``imp_y1/tau_y1`` and ``imp_y2/tau_y2`` (so brian2-loihi
    creates their stochastic decay) and connected already; error neuron ``j`` of each group drives the
    traces of every synapse onto post neuron ``j``. The post neuron's own spikes stop impulsing the traces
    (its ``post`` pathway is deactivated: the rule uses no ``y0``). Returns the two brian2 ``Synapses``,
    which must be added to the network.
    """
    from brian2 import Synapses

    if not 0 <= int(impulse) <= 127:
        raise ExportError(f"error trace impulse {impulse} outside 0..127 (7-bit traces)")
    synapses.post.active = False
    posts = np.asarray(synapses.j[:], dtype=int)
    out = []
    for group, trace in ((error_plus, "y1"), (error_minus, "y2")):
        drive = Synapses(group, synapses, on_pre=f"{trace}_post = int(clip({trace}_post + {int(impulse)}, 0, 127))")
        drive.connect(i=posts, j=np.arange(len(posts)))
        out.append(drive)
    return out
