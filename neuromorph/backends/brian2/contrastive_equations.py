r"""Brian2 code of a contrastive rate network (EP, CHL) and its temporally local plasticity.

Generated from the :class:`~neuromorph.contrastive.models.NetSpec` the torch step uses
(:func:`neuromorph.contrastive.models.step`, :func:`~neuromorph.contrastive.models.hebbian`,
:func:`~neuromorph.plasticity.contrastive.local_update`). One brian2 time step is one torch step;
brian2's clock runs in *steps* (dt = 1 s of brian2 time), since a rate model's Euler factor
:math:`k = \Delta t/\tau` is all that enters. Order inside brian2's ``groups`` slot:

====  ====================================  ===========================================================
order  object                               update
====  ====================================  ===========================================================
 5    ``hid``, ``out``                      save / reload the training state around an evaluation
                                            (``SAVE``, ``LOAD``), reset (``RST``), :math:`r = \rho(u)`
10    ``S1``, ``S2h``, ``S2y`` (summed)     :math:`I_1 = W_1 x`, :math:`I_2 = W_2^\top \rho(y)`, :math:`I_y = W_2\rho(h)`
20    ``hid``, ``out``                      :math:`u \leftarrow u - k\,\partial F/\partial u`, then :math:`r = \rho(u)`
30    ``S1``, ``S2h``, ``Sb1``, ``Sb2``     batch sums of the Hebbian term :math:`\rho(h)x^\top`, :math:`\rho(y)\rho(h)^\top`, :math:`\rho(\cdot)`
40    weight groups                         :math:`\theta \leftarrow \theta + \eta_t\,(g_t - \bar g - g_-)` (below)
====  ====================================  ===========================================================

with :math:`\rho(u) = \sigma(4u - 2)` and :math:`\rho' = 4\rho(1 - \rho)`:

.. math::

    h &\leftarrow h - k\,[h - \rho'(h)(W_1 x + W_2^\top\rho(y) + b_1)] \\
    y &\leftarrow y - k\,[y - \rho'(y)(W_2\rho(h) + b_2) + \varphi_t\,\beta\rho'(y)(\rho(y) - t)]
      \quad \text{(EP; Scellier \& Bengio 2017, eq. 1 + nudge)} \\
    y &\leftarrow \varphi_t\,\rho^{-1}(t_c) + (1 - \varphi_t)\,(y - k\,[y - \rho'(y)(W_2\rho(h) + b_2)])
      \quad \text{(CHL; Movellan 1991: clamped outputs)}

Every parameter lives once, in a *weight group* (``G1``: one unit per :math:`W_{1,ji}`, ``G2``
per :math:`W_{2,kj}`, ``Gb1``, ``Gb2`` per bias), and is shared by the batch copies: the synapses
read it as ``w_pre`` and sum the Hebbian products of all copies back into the group's ``gs``.
The update of every scheme is one expression driven by per-step ``TimedArray`` s
(Williams, Bredenberg & Lajoie 2023, arXiv:2302.12431; THEORY.md §3.2):

.. math::

    g &= gs/B, \qquad d = g - \bar g, \qquad \bar g \leftarrow \bar g + \mathrm{BL}_t\, d/n_\mathrm{bl}, \\
    g_- &\leftarrow \mathrm{STORE}_t\, g + (1 - \mathrm{STORE}_t)\, g_-, \qquad
    \theta \leftarrow \theta + \mathrm{ETA}_t\,(d - g_-)

* local (periodic, random): :math:`\mathrm{ETA}_t = \eta_\mathrm{step} s_t` on phase steps (0 in the
  burn-in), :math:`\mathrm{STORE} \equiv 0`; the baseline flag ``BL`` is 1 on phase steps of the random
  scheme with ``baseline_steps`` > 0, otherwise :math:`\bar g` stays exactly 0;
* classical: ``STORE`` = 1 at the last free step (the stored state :math:`g_-`), ``ETA`` = :math:`\eta c`
  at the last nudged step only, :math:`\theta \leftarrow \theta + \eta c\,(g_+ - g_-)`.

A flag of 0 or 1 multiplies exactly, so each scheme evaluates the expression of
:mod:`neuromorph.contrastive.train` (up to the summation order of the batch sums). Each torch
expression is one code line (temporaries), so brian2's sympy pass cannot redistribute it.
"""

from __future__ import annotations

from neuromorph.contrastive.models import NetSpec

#: Scheduling order of each stage inside brian2's ``groups`` slot (module docstring).
ORDER = {"rates": 5, "drive": 10, "state": 20, "hebbian": 30, "update": 40}


def _num(x: float) -> str:
    return repr(float(x))


def rho(u: str) -> str:
    r""":math:`\rho(u) = \sigma(4u - 2) = 1/(1 + e^{-(4u - 2)})`."""
    return f"1.0/(1.0 + exp(-(4.0*{u} - 2.0)))"


def hidden_variables() -> str:
    """Hidden unit (copy, j): state ``h``, rate ``r``, the two summed drives, its bias (linked to ``Gb1``)."""
    return "h : 1\nhs : 1\nr : 1\nI1 : 1\nI2 : 1\ncopy : integer (constant)\nb1 : 1 (linked)"


def output_variables() -> str:
    """Output unit (copy, k): state ``y``, rate ``r``, drive, bias (linked) and this trial's target.

    ``TGT`` holds :math:`t` (EP) or the clamped state :math:`\\rho^{-1}(t_c)` (CHL) per sample; ``SAMPLE``
    the sample each copy shows in each presentation (a lookup, so the data set is stored once).
    """
    return ("y : 1\nys : 1\nr : 1\nIy : 1\ncopy : integer (constant)\nunit : integer (constant)\nb2 : 1 (linked)\n"
            "tgt = TGT(SAMPLE(t, copy)*second, unit) : 1")


def weight_variables() -> str:
    """A weight group unit: the parameter, the batch sum of its Hebbian term, the baseline and the stored g-."""
    return "w : 1\ngs : 1\ngbar : 1\ngm : 1\ncol : integer (constant)"


def rates_code(state: str) -> str:
    """Order 5: keep the training state aside during an evaluation (``SAVE`` at its first step, ``LOAD`` at
    the next training step), start a presentation or an evaluation from rest (``RST``), and the rate of the
    current state. A 0/1 flag multiplies exactly, so a step without flags leaves the state as it is."""
    saved = state[0] + "s"
    return "\n".join([f"{saved} = SAVE(t)*{state} + (1.0 - SAVE(t))*{saved}",
                      f"{state} = LOAD(t)*{saved} + (1.0 - LOAD(t))*{state}",
                      f"{state} = (1.0 - RST(t))*{state}", f"r = {rho(state)}"])


def hidden_code(net: NetSpec) -> str:
    r""":math:`h \leftarrow h - k\,[h - \rho'(h)(I_1 + I_2 + b_1)]` (the ``dh`` of :func:`~neuromorph.contrastive.models.energy_grad_state`)."""
    k = net.dt / net.tau
    return "\n".join(["rp = 4.0*r*(1.0 - r)", "dh = h - rp*(I1 + I2 + b1)", f"h = h - {_num(k)}*dh",
                      f"r = {rho('h')}"])


def output_code(net: NetSpec) -> str:
    """The output step of :func:`~neuromorph.contrastive.models.step`: EP nudged by ``PHI``, or CHL clamped."""
    k = net.dt / net.tau
    lines = ["rp = 4.0*r*(1.0 - r)", "dy = y - rp*(Iy + b2)"]
    if net.model == "ep":
        lines += [f"nudge = {_num(net.beta)}*rp*(r - tgt)", "dyn = dy + PHI(t)*nudge", f"y = y - {_num(k)}*dyn"]
    else:  # chl: the clamped phase sets the outputs to rho^-1(t_c)
        lines += [f"yfree = y - {_num(k)}*dy", "y = PHI(t)*tgt + (1.0 - PHI(t))*yfree"]
    return "\n".join(lines + [f"r = {rho('y')}"])


def update_code(batch: int, baseline_steps: float) -> str:
    """Order 40 in every weight group (module docstring)."""
    n_bl = baseline_steps if baseline_steps else 1.0  # BL is 0 everywhere when the baseline is off
    return "\n".join([f"g = gs/{_num(batch)}", "d = g - gbar", f"gbar = gbar + BL(t)*(d/{_num(n_bl)})",
                      "gm = STORE(t)*g + (1.0 - STORE(t))*gm", "w = w + ETA(t)*(d - gm)"])


# summed variables (order 10: drives from the current rates; order 30: Hebbian sums of the new rates)
S1 = "x = DATA(SAMPLE(t, copy_post)*second, col_pre) : 1\nI1_post = w_pre*x : 1 (summed)\ngs_pre = r_post*x : 1 (summed)"
S2H = "ry : 1 (linked)\nyi : integer (constant)\nI2_post = w_pre*ry : 1 (summed)\ngs_pre = ry*r_post : 1 (summed)"
S2Y = "rh : 1 (linked)\nhi : integer (constant)\nIy_post = w_pre*rh : 1 (summed)"
SB = "gs_post = r_pre : 1 (summed)"
