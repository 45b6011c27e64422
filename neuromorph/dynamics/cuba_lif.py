r"""Current-based LIF (CUBA LIF): an LIF whose drive passes through an exponentially decaying synaptic current.

The neuron of norse's ``LIFParameters`` (``tau_syn_inv``), NIR's ``CubaLIF`` and Loihi's
compartment (``du``, ``dv``), written in neuromorph's discrete convention (:mod:`.lif`,
Bellec et al. 2020): exact exponential decays, a subtractive reset one step after the spike that is
never differentiated, a refractory count, the pseudo-derivative and a threshold offset :math:`\theta`.
One step maps the state at :math:`t-1` and the synaptic drive :math:`I_t` to the state at :math:`t`:

.. math::

    i_t &= \alpha_s\, i_{t-1} + s_s\, I_t, \qquad
        \alpha_s = e^{-\Delta t/\tau_\mathrm{syn}},\quad
        I_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b \\
    v_t &= \alpha\, v_{t-1} + s\, i_t - v_\mathrm{th} z_{t-1},
        \qquad \alpha = e^{-\Delta t/\tau_m} \\
    z_t &= H(v_t - v_\mathrm{th} - \theta)\,[r_{t-1} = 0],
        \qquad \psi_t = \psi(v_t - \theta)\,[r_{t-1} = 0]

and the refractory count of :mod:`.lif`. The membrane integrates the current of the *same* step
(:math:`i_t`, not :math:`i_{t-1}`), so a drive at step :math:`t` reaches the membrane at step
:math:`t`, as in LIF; the spike's effect on the recurrent drive is delayed by one step through
:math:`z_{t-1}` only.

**Drive scale.** ``input_scaling=False`` (the paper's form, Loihi's) uses :math:`s_s = s = 1`.
``input_scaling=True`` scales *both* stages, :math:`s_s = 1-\alpha_s` and :math:`s = 1-\alpha`, so
that the steady-state gain from a constant drive to the membrane is 1 as for the scaled LIF: a card
switched from ``lif`` to ``cuba_lif`` keeps its threshold and weight scale meaningful. As
:math:`\tau_\mathrm{syn} \to 0` (:math:`\alpha_s \to 0`, :math:`s_s \to 1` in both forms) the neuron
becomes :mod:`.lif` exactly.

**Eligibility.** With the recurrent spikes treated as inputs (e-prop's stop-gradient) the membrane's
sensitivity to a weight is the presynaptic activity passed through two linear stages, the current
:math:`(\alpha_s, s_s)` first, then the membrane :math:`(\alpha, s)`:
:math:`\partial v_t/\partial W_{ji} = P_{ji}^t`, :math:`Q_t = \alpha_s Q_{t-1} + s_s\,\mathrm{pre}_t`,
:math:`P_t = \alpha P_{t-1} + s\, Q_t` (Bellec et al. 2020, Methods eq. 13 with the state
:math:`(i, v)`; the reset term is constant). The impulse response of the membrane to one unit of
drive is a difference of exponentials, :math:`s s_s (\alpha^{k+1} - \alpha_s^{k+1})/(\alpha - \alpha_s)`
after :math:`k` steps (:math:`s s_s (k+1)\alpha^k` when :math:`\alpha = \alpha_s`).

**Why not norse's** ``lif_step`` / ``lif_feed_forward_step`` (norse 1.1.0,
``norse.torch.functional.lif``). Its subthreshold update is an explicit Euler step on the jumped
current :math:`j_t = c_{t-1} + I_t` (``c`` is norse's stored, already decayed ``state.i``):

.. math::

    j_t = c_{t-1} + I_t, \qquad
    v_t = v_{t-1} + \tfrac{\Delta t}{\tau_m}(v_\mathrm{leak} - v_{t-1} + j_t), \qquad
    c_t = (1 - \tfrac{\Delta t}{\tau_\mathrm{syn}})\, j_t .

So the voltage *does* integrate the same step's current, as here; with :math:`v_\mathrm{leak} = 0`
the two subthreshold systems are identical under the mapping
:math:`\alpha = 1-\Delta t/\tau_m^\mathrm{norse}`, :math:`\alpha_s = 1-\Delta t/\tau_\mathrm{syn}^\mathrm{norse}`
(i.e. :math:`\tau = -\Delta t/\ln(1-\Delta t/\tau^\mathrm{norse})`), ``input_scaling=False`` and a
drive :math:`I_t = (\Delta t/\tau_m^\mathrm{norse})\, I^\mathrm{norse}_t`; then :math:`v_t = v^\mathrm{norse}_t`
and :math:`i_t = j_t = c_t/(1-\Delta t/\tau_\mathrm{syn}^\mathrm{norse})` (``tests/test_cuba_lif.py``
checks this trajectory against norse itself). Where they differ: norse's decays are Euler
(:math:`1-\Delta t/\tau`, not :math:`e^{-\Delta t/\tau}`) and its membrane drive is scaled by
:math:`\Delta t/\tau_m`; it thresholds and resets *to* ``v_reset`` within the same step (its stored
voltage is post-reset; here the stored voltage is pre-reset and :math:`v_\mathrm{th}` is subtracted at
the next step), has no refractory period and no threshold offset, stores the current after decay, has
a leak potential, and uses its own surrogate (SuperSpike) in place of the pseudo-derivative;
``lif_feed_forward_step`` also differentiates through the reset. Those are not the published e-prop
equations that users replay with given weights, so the step below is written in norse's functional
style (parameters as frozen data, state as a NamedTuple) rather than taken from norse.

References
----------
Bellec et al., "A solution to the learning dilemma for recurrent networks of spiking neurons",
Nat. Commun. 11:3625 (2020), Methods (LIF, eqs. 6-7; eligibility, eq. 13).
Pedersen et al., "Neuromorphic intermediate representation: a unified instruction set for
interoperable brain-inspired computing", Nat. Commun. 15:8122 (2024) (NIR ``CubaLIF``).
Pehle & Pedersen, norse (2021), ``norse.torch.functional.lif`` (``LIFParameters.tau_syn_inv``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics.lif import LIFParameters, Membrane, _fire, _positive, exact_membrane
from neuromorph.dynamics.neuron import Eligibility, Filter


@dataclass(frozen=True)
class CubaLIFParameters(LIFParameters):
    """LIF parameters plus the synaptic current's time constant ``tau_syn`` (s); the ``"cuba_lif"`` family.

    Attributes
    ----------
    tau_syn : float
        Synaptic current time constant (s), > 0.
    tau_mem, v_th, t_ref, pd_height, pd_width : float
        As for :class:`~neuromorph.dynamics.LIFParameters`.
    input_scaling : bool
        Scale the current stage by :math:`1-\\alpha_s` and the membrane stage by :math:`1-\\alpha`
        (unit steady-state gain); otherwise both scales are 1.

    It states its own :meth:`step`, :meth:`eligibility` and NIR primitive; it does not state
    ``membrane_update`` (a chip's integer arithmetic of the current stage is not modelled), so profiles
    with integer membranes refuse it.
    """

    tau_syn: float = 5e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "tau_syn")

    model: ClassVar[str] = "cuba_lif"
    state_names: ClassVar[tuple[str, ...]] = ("v", "z", "r", "i")
    nir_primitive: ClassVar[str] = "CubaLIF"

    def alpha_syn(self, dt: float) -> float:
        """Synaptic current decay per step, :math:`\\alpha_s = e^{-\\Delta t/\\tau_\\mathrm{syn}}`."""
        return math.exp(-dt / self.tau_syn)

    def current_scale(self, dt: float) -> float:
        """:math:`s_s`: 1, or :math:`1-\\alpha_s` with ``input_scaling``."""
        return 1.0 - self.alpha_syn(dt) if self.input_scaling else 1.0

    @property
    def signed_eligibility(self) -> bool:
        """False: both stages have positive decays and scales, so :math:`\\psi P \\ge 0` for spike inputs."""
        return False

    def initial_state(self, batch: int, n: int, dtype: torch.dtype = torch.float32) -> CubaLIFState:
        return cuba_lif_initial_state(batch, n, dtype)

    def step(self, state, drive, dt, *, theta=None, membrane=None):
        return cuba_lif_step(self, state, drive, dt, membrane, theta)

    def eligibility(self, dt: float, n: int, dtype: torch.dtype) -> Eligibility:
        r"""The current stage :math:`(\alpha_s, s_s)`, then the membrane :math:`(\alpha, s)` (module docstring)."""
        return Eligibility((Filter(self.alpha_syn(dt), self.current_scale(dt)),
                            Filter(self.alpha(dt), self.drive_scale(dt))))


class CubaLIFState(NamedTuple):
    """State after step t: membrane ``v`` (pre-reset), spikes ``z``, refractory count ``r``, current ``i``."""

    v: torch.Tensor
    z: torch.Tensor
    r: torch.Tensor
    i: torch.Tensor


def cuba_lif_initial_state(batch: int, n: int, dtype: torch.dtype = torch.float32) -> CubaLIFState:
    """All-zero state of shape (batch, n)."""
    zeros = torch.zeros(batch, n, dtype=dtype)
    return CubaLIFState(zeros, zeros.clone(), zeros.clone(), zeros.clone())


def cuba_lif_step(
    p: CubaLIFParameters, state: CubaLIFState, drive: torch.Tensor, dt: float, membrane: Membrane | None = None,
    theta: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, CubaLIFState]:
    r"""Advance one step (module docstring). Returns ``(z_t, psi_t, state_t)``.

    :math:`i_t = \alpha_s i_{t-1} + s_s I_t`, then the membrane update of :mod:`.lif` driven by
    :math:`i_t`; ``membrane`` replaces that membrane update (its drive argument is :math:`i_t`) and
    ``theta`` (n,) offsets the threshold (not the reset).
    """
    i = p.alpha_syn(dt) * state.i + p.current_scale(dt) * drive
    v = (membrane or exact_membrane(p, dt))(state.v, state.z.detach(), i)
    threshold = torch.as_tensor(p.v_th, dtype=v.dtype) if theta is None else p.v_th + theta
    return _fire(p, v, threshold, state.r, dt, lambda z, r: CubaLIFState(v, z, r, i))
