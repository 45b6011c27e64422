r"""Brian2 code of a contrastive network (EP, CHL, spiking) and its temporally local plasticity.

Generated from the engine's network and rule (:class:`Layered`: the layered network of
:func:`neuromorph.network.layered` with units of :mod:`neuromorph.dynamics.energy`, and the teaching
of :mod:`neuromorph.plasticity.contrastive`), the same expressions as the torch step
(:meth:`neuromorph.backends.base.Lowered.step`) and the rule's update. One brian2 time step is one torch step;
brian2's clock runs in *steps* (dt = 1 s of brian2 time), since only the per-step constants enter
(a rate model's Euler factor :math:`k = \Delta t/\tau`; the LIF decay :math:`\alpha = e^{-\Delta t/\tau_m}`
and the rate filter's :math:`e^{-\Delta t/\tau_\mathrm{rate}}`, computed from the card's seconds).
Order inside brian2's ``groups`` slot:

===== ====================================  ===========================================================
order  object                               update
===== ====================================  ===========================================================
 5    ``inp``                               the input :math:`x` of each copy's sample (``DATA``, ``SAMPLE``)
 5    ``hid``, ``out``                      save / reload the training state around an evaluation
                                            (``SAVE``, ``LOAD``), reset (``RST``), :math:`r = \rho(u)`
10    ``S1``, ``S2h``, ``S2y`` (summed)     :math:`I_1 = W_1 x`, :math:`I_2 = W_2^\top \rho(y)`, :math:`I_y = W_2\rho(h)`
20    ``hid``, ``out``                      :math:`u \leftarrow u - k\,\partial F/\partial u`, then :math:`r = \rho(u)`
30    ``S1``, ``S2h``, ``Sb1``, ``Sb2``     batch sums of the Hebbian term :math:`\rho(h)x^\top`, :math:`\rho(y)\rho(h)^\top`, :math:`\rho(\cdot)`
40    weight groups                         :math:`\theta \leftarrow \theta + \eta_t\,(g_t - \bar g - g_-)` (below)
===== ====================================  ===========================================================

with :math:`\rho(u) = \sigma(4u - 2)` and :math:`\rho' = 4\rho(1 - \rho)`:

.. math::

    h &\leftarrow h - k\,[h - \rho'(h)(W_1 x + W_2^\top\rho(y) + b_1)] \\
    y &\leftarrow y - k\,[y - \rho'(y)(W_2\rho(h) + b_2 + \varphi_t\,\beta(t - \rho(y)))]
      \quad \text{(EP; Scellier \& Bengio 2017, eq. 1 + nudge)} \\
    y &\leftarrow \varphi_t\,\rho^{-1}(t_c) + (1 - \varphi_t)\,(y - k\,[y - \rho'(y)(W_2\rho(h) + b_2)])
      \quad \text{(CHL; Movellan 1991: clamped outputs)}

The spiking variant replaces each unit by a LIF neuron (:func:`~neuromorph.dynamics.lif.lif_step`)
driven by the same forces with the filtered spike rates :math:`\bar r` in place of :math:`\rho(\cdot)`,
the nudge :math:`\varphi_t\beta(t - \bar r_y)` added to the output drive (:func:`_lif`).

Every parameter lives once, in a *weight group* (``G1``: one unit per :math:`W_{1,ji}`, ``G2``
per :math:`W_{2,kj}`, ``Gb1``, ``Gb2`` per bias), and is shared by the batch copies: the synapses
read it as ``w_pre`` and sum the Hebbian products of all copies back into the group's ``gs``.
The update of every scheme is one expression driven by per-step ``TimedArray`` s
(Williams, Bredenberg & Lajoie 2023, arXiv:2302.12431), the optimiser's SGD step
:math:`\theta \leftarrow \theta - \eta\,\mathrm{grad}` with the rule's gradient
:math:`\mathrm{grad} = \mathrm{FAC}_t\,(d - g_-)`:

.. math::

    g &= gs/B, \qquad d = g - \bar g, \qquad \bar g \leftarrow \bar g + \mathrm{BL}_t\, d/n_\mathrm{bl}, \\
    g_- &\leftarrow \mathrm{STORE}_t\, g + (1 - \mathrm{STORE}_t)\, g_-, \qquad
    \theta \leftarrow \theta - \mathrm{LR}_t\,(\mathrm{FAC}_t\,(d - g_-))

* local rule (:class:`~neuromorph.plasticity.contrastive.Contrastive`): :math:`\mathrm{FAC}_t = -c\,s_t`
  on phase steps (0 in the burn-in), :math:`\mathrm{STORE} \equiv 0`; the baseline flag ``BL`` is 1 on
  phase steps when the rule has a baseline, otherwise :math:`\bar g` stays exactly 0;
* classical (:class:`~neuromorph.plasticity.contrastive.ClassicalContrastive`): ``STORE`` = 1 at the last
  free step (the stored state :math:`g_-`), :math:`\mathrm{FAC} = -c` at the last step only.

``LR`` is the presentation's η. A flag of 0 or 1 multiplies exactly, so each rule evaluates the torch
expression (up to the summation order of the batch sums). Each torch expression is one code line
(temporaries), so brian2's sympy pass cannot redistribute it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuromorph.dynamics import EnergyRateParameters, FilteredLIFParameters, Neuron

#: How each unit family of a layered network is lowered, by exact class.
UNIT_KINDS: dict[type, str] = {EnergyRateParameters: "rate", FilteredLIFParameters: "spiking"}


@dataclass(frozen=True)
class Layered:
    """A layered contrastive network as this lowering reads it: sizes, unit family, step, the rule's teaching."""

    n_in: int
    n_hidden: int
    n_out: int
    neuron: Neuron
    dt: float
    teaching: str  #: "nudge" or "clamp"
    beta: float

    @property
    def kind(self) -> str:
        return UNIT_KINDS[type(self.neuron)]

#: Scheduling order of each stage inside brian2's ``groups`` slot (module docstring).
ORDER = {"rates": 5, "drive": 10, "state": 20, "hebbian": 30, "update": 40}


def _num(x: float) -> str:
    return repr(float(x))


def rho(u: str) -> str:
    r""":math:`\rho(u) = \sigma(4u - 2) = 1/(1 + e^{-(4u - 2)})`."""
    return f"1.0/(1.0 + exp(-(4.0*{u} - 2.0)))"


#: the state of a unit, per model: what an evaluation sets aside and a presentation resets
STATE = {"rate": ("u",), "spiking": ("v", "z", "rf", "rb")}


def _state_variables(net: Layered) -> str:
    names = STATE[net.kind]
    return "\n".join([f"{n} : 1" for n in names] + [f"{n}_s : 1" for n in names])


def hidden_variables(net: Layered) -> str:
    """Hidden unit (copy, j): its state (``u`` = h, or the LIF state and filtered rate), the saved copy of
    it, the rate ``r`` the synapses read, the two summed drives and its bias (linked to ``Gb1``)."""
    return _state_variables(net) + "\nr : 1\nI1 : 1\nI2 : 1\ncopy : integer (constant)\nb1 : 1 (linked)"


def output_variables(net: Layered) -> str:
    """Output unit (copy, k): state (``u`` = y, or LIF), rate ``r``, drive, bias (linked), this trial's
    target and ``ra``, the rate summed over an evaluation's read-out steps.

    ``TGT`` holds :math:`t` (EP, spiking) or the clamped state :math:`\\rho^{-1}(t_c)` (CHL) per sample;
    ``SAMPLE`` the sample each copy shows (a lookup, so the data set is stored once).
    """
    return (_state_variables(net) + "\nr : 1\nra : 1\nIy : 1\ncopy : integer (constant)\nunit : integer (constant)\n"
            "b2 : 1 (linked)\ntgt = TGT(SAMPLE(t, copy)*second, unit) : 1")


def weight_variables() -> str:
    """A weight group unit: the parameter, the batch sum of its Hebbian term, the baseline and the stored g-."""
    return "w : 1\ngs : 1\ngbar : 1\ngm : 1"


def _rate(net: Layered) -> str:
    """The rate the rule and the synapses read: the unit's output ``z``."""
    return f"{_num(net.neuron.rate_scale)}*rb" if net.kind == "spiking" else rho("u")


def rates_code(net: Layered) -> str:
    """Order 5: keep the training state aside during an evaluation (``SAVE`` at its first step, ``LOAD`` at
    the next training step), start a presentation or an evaluation from rest (``RST``), and the rate of the
    current state. A 0/1 flag multiplies exactly, so a step without flags leaves the state as it is."""
    lines = []
    for n in STATE[net.kind]:
        lines += [f"{n}_s = SAVE(t)*{n} + (1.0 - SAVE(t))*{n}_s", f"{n} = LOAD(t)*{n}_s + (1.0 - LOAD(t))*{n}",
                  f"{n} = (1.0 - RST(t))*{n}"]
    return "\n".join(lines + [f"r = {_rate(net)}"])


def _lif(net: Layered, drive: str) -> list[str]:
    r"""One :func:`~neuromorph.dynamics.lif.lif_step` and the rate filter of
    :class:`~neuromorph.dynamics.FilteredLIFParameters`:
    :math:`v = \alpha v + s I - v_\mathrm{th} z^{t-1}`, :math:`z = H(v - v_\mathrm{th})[r_\mathrm{ref} = 0]`,
    :math:`\bar r = d\bar r + (1 - d) z`, :math:`d = e^{-\Delta t/\tau_\mathrm{rate}}`."""
    p, dt = net.neuron.lif, net.dt
    decay = float(torch.exp(torch.tensor(-net.dt / net.neuron.tau_rate, dtype=torch.float64)))  # as its step
    return [f"v = {_num(p.alpha(dt))}*v + {_num(p.drive_scale(dt))}*({drive}) - {_num(p.v_th)}*z",
            "free = int(rf <= 0)", f"z = int(v > {_num(p.v_th)})*free",
            f"rf = int(z > 0.5)*{p.n_ref(dt)} + int(z <= 0.5)*clip(rf - 1, 0, inf)",
            f"rb = {_num(decay)}*rb + {_num(1.0 - decay)}*z", f"r = {_rate(net)}"]


def hidden_code(net: Layered) -> str:
    r""":math:`h \leftarrow h - k\,[h - \rho'(h)(I_1 + I_2 + b_1)]` (the step of
    :class:`~neuromorph.dynamics.EnergyRateParameters`), or a LIF step driven by :math:`I_1 + I_2 + b_1`."""
    if net.kind == "spiking":
        return "\n".join(_lif(net, "I1 + I2 + b1"))
    k = net.dt / net.neuron.tau
    return "\n".join(["rp = 4.0*r*(1.0 - r)", "dh = u - rp*(I1 + I2 + b1)", f"u = u - {_num(k)}*dh",
                      f"r = {rho('u')}"])


def output_code(net: Layered) -> str:
    """The output step: nudged by ``PHI`` (the drive :math:`\\varphi\\beta(t - z_y)`, rate units or LIF) or
    clamped (CHL); then ``ra`` (evaluation)."""
    if net.kind == "spiking":
        lines = [f"nudge = {_num(net.beta)}*(tgt - r)", "drive = Iy + b2 + PHI(t)*nudge", *_lif(net, "drive")]
    else:
        k = net.dt / net.neuron.tau
        lines = ["rp = 4.0*r*(1.0 - r)"]
        if net.teaching == "nudge":
            lines += [f"nudge = {_num(net.beta)}*(tgt - r)", "drive = Iy + b2 + PHI(t)*nudge", "dy = u - rp*drive",
                      f"u = u - {_num(k)}*dy"]
        else:  # clamp: the positive phase sets the outputs to rho^-1(t_c)
            lines += ["dy = u - rp*(Iy + b2)", f"ufree = u - {_num(k)}*dy", "u = PHI(t)*tgt + (1.0 - PHI(t))*ufree"]
        lines.append(f"r = {rho('u')}")
    return "\n".join(lines + ["ra = (1.0 - RST(t))*ra + AVG(t)*r"])


def update_code(batch: int, baseline_steps: float) -> str:
    """Order 40 in every weight group (module docstring)."""
    n_bl = baseline_steps if baseline_steps else 1.0  # BL is 0 everywhere when the baseline is off
    return "\n".join([f"g = gs/{_num(batch)}", "d = g - gbar", f"gbar = gbar + BL(t)*(d/{_num(n_bl)})",
                      "gm = STORE(t)*g + (1.0 - STORE(t))*gm", "grad = FAC(t)*(d - gm)", "w = w - LR(t)*grad"])


def input_variables() -> str:
    """Input channel (copy, i): the value ``x`` its copy's sample shows (looked up once per step, order 5)."""
    return "x : 1\ncopy : integer (constant)\ncol : integer (constant)"


INPUT_CODE = "x = DATA(SAMPLE(t, copy)*second, col)"

# summed variables (order 10: drives from the current rates; order 30: Hebbian sums of the new rates)
S1 = "x : 1 (linked)\nxidx : integer (constant)\nI1_post = w_pre*x : 1 (summed)\ngs_pre = r_post*x : 1 (summed)"
S2H = "ry : 1 (linked)\nyi : integer (constant)\nI2_post = w_pre*ry : 1 (summed)\ngs_pre = ry*r_post : 1 (summed)"
S2Y = "rh : 1 (linked)\nhi : integer (constant)\nIy_post = w_pre*rh : 1 (summed)"
SB = "gs_post = r_pre : 1 (summed)"
