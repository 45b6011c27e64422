r"""Temporally local contrastive learning as a three-factor rule (Williams, Bredenberg & Lajoie 2023).

Contrastive learning (CL) moves the parameters along the difference of a local term between a
positive (nudged or clamped) and a negative (free) phase,
:math:`\nabla_\theta L = \mathbb E_{+}[g] - \mathbb E_{-}[g]` (Williams, Bredenberg & Lajoie 2023,
docs/contrastive.md). The *classical* rule
stores the free-phase state until the end of the positive phase and applies

.. math::

    \Delta\theta = \eta\,[g(a_+) - g(a_-)] \qquad \text{(reads the stored history: temporally non-local)}.

The *temporally local* rule applies, at every step and with no stored state,

.. math::

    \theta_{t+1} = \theta_t + \eta\, s_t\, g(a_t, \theta_t), \qquad
    s_t = +\frac{1}{2p_+}\ (\varphi_t = +), \quad s_t = -\frac{1}{2p_-}\ (\varphi_t = -),

a three-factor rule whose third factor :math:`s_t` is one value broadcast to every synapse (the
phase sign with its importance weight) and whose local term is Hebbian,
:math:`g_{ji} = \mathrm{post}_j \cdot \mathrm{pre}_i` with both factors the units' (filtered) rates.
For equilibrium propagation :math:`g = -\partial E/\partial\theta` and η carries the factor 1/β
(Scellier & Bengio 2017); for contrastive Hebbian learning the positive phase clamps the outputs
(Movellan 1991).

**What the rules compute** (:class:`~neuromorph.plasticity.base.Rule`; the network is any population
whose readout selects the output units, for example the layered energy network of
:mod:`neuromorph.contrastive.layout`). The task's batch carries the phase :math:`\varphi_t` of every
step (+1 positive, -1 negative, 0: a free step with the plasticity off). Before a positive step the
rule *teaches* (:meth:`Contrastive.teach`): it nudges the units with the drive
:math:`\beta\,W^{\mathrm{out}\top}(t - W^\mathrm{out} z_{t-1})` (EP: :math:`-\beta\,\partial C/\partial\rho` for
:math:`C = \tfrac12\|y - t\|^2`) or clamps the readout's units to the rate
:math:`t_c = c + (1 - 2c)\,t` (CHL). After each step the Hebbian term is
:math:`g^\mathrm{in} = z_t^\top x_t / B`, :math:`g^\mathrm{rec} = z_t^\top z_t / B`,
:math:`g^b = \bar z_t` (batch means; the learner keeps absent synapses at zero), and the gradient
handed to the optimiser is :math:`-c\,s_t\,g` (local; :math:`c` = 1/β for EP) or, once per
presentation, :math:`-c\,[g(a_+) - g(a_-)]` (classical).

Declared reads (what the setup check places on a chip, :mod:`neuromorph.hardware.locality`):

* the presynaptic rate as a trace at ``pre``; the postsynaptic rate at ``post``, a function of the
  neuron's state for rate units (``post_state``) or its filtered spike train for spiking units
  (``post_trace``, ``spiking = True``);
* the phase signal: ``broadcast_signal`` at scope ``chip`` (``delivery = "broadcast"``), or, where a
  chip has no chip-wide signal its learning engine can read, the same value sent into every neuron
  as a per-neuron third factor (``delivery = "post"``: ``learning_signal`` at ``post``; on Loihi 2
  graded spikes into each post neuron's y2/y3, docs/hardware.md); the sign is split into a positive
  and a negative part with ``split_signed``;
* the classical reference reads ``history`` at ``host`` and is ``offline``.

References
----------
E. Williams, C. Bredenberg, G. Lajoie, "Flexible Phase Dynamics for Bio-Plausible Contrastive
Learning", ICML 2023, arXiv:2302.12431; B. Scellier & Y. Bengio, Front. Comput. Neurosci. 11:24
(2017); J. R. Movellan, Connectionist Models (1991).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics.neuron import require
from neuromorph.errors import ConfigError
from neuromorph.plasticity.base import Read, Rule, RuleContext, Scope, Signal, StepSignals, Target, Teaching, Temporal

DELIVERIES = ("broadcast", "post")
TEACHINGS = ("nudge", "clamp")
CONTRASTIVE_TARGETS = frozenset({Target.W_IN, Target.W_REC, Target.BIAS})
_BASELINE = "contrastive_baseline"  #: the key of the baseline trace in ``ctx.carry``


def importance_weights(p_plus: float) -> tuple[float, float]:
    r"""``(s_+, s_-) = (1/(2 p_+), -1/(2 p_-))``: with these, :math:`\mathbb E[s g] = \frac12(E_+[g] - E_-[g])`."""
    if not 0 < p_plus < 1:
        raise ConfigError(f"phase occupancy p_+ must lie in (0, 1), got {p_plus!r}")
    return 1.0 / (2.0 * p_plus), -1.0 / (2.0 * (1.0 - p_plus))


def hebbian(x: torch.Tensor, z: torch.Tensor, targets) -> dict[Target, torch.Tensor]:
    r"""The local term :math:`g = \mathrm{post}\cdot\mathrm{pre}` of each target, averaged over the batch."""
    b = x.shape[0]
    terms = {Target.W_IN: lambda: z.T @ x / b, Target.W_REC: lambda: z.T @ z / b, Target.BIAS: lambda: z.mean(0)}
    return {t: terms[t]() for t in targets}


class ContrastiveState(NamedTuple):
    """The step's gradient (local), or the last free-phase term and the current one (classical)."""

    grads: dict
    g_free: dict | None = None


@dataclass(frozen=True)
class _Teacher:
    """What both contrastive rules share: the teaching of the positive phase and the Hebbian term."""

    phased: ClassVar[bool] = True  #: learns in the phases its batches carry (TrialBatch.phase)
    teaching: str = "nudge"  #: "nudge" (EP, the spiking variant) or "clamp" (CHL)
    beta: float = 0.5  #: nudging strength
    clamp_margin: float = 0.05  #: CHL clamps to rates in [margin, 1 - margin]
    scale: float = 1.0  #: the factor in front of the contrast (1/β for EP)

    def _check_teaching(self) -> None:
        if self.teaching not in TEACHINGS:
            raise ConfigError(f"contrastive teaching must be one of {TEACHINGS}, got {self.teaching!r}")
        if not self.beta > 0 or not 0 <= self.clamp_margin < 0.5 or not 0 < self.scale < float("inf"):
            raise ConfigError(f"contrastive beta must be > 0, clamp_margin in [0, 0.5) and scale finite and > 0, got "
                              f"{self.beta!r}, {self.clamp_margin!r}, {self.scale!r}")

    def check(self, network) -> None:
        if self.teaching == "clamp":
            require(network.neuron, "clamp", f"contrastive learning with teaching = \"clamp\" ({type(self).__name__})",
                    "a way to hold units at a rate (Neuron.clamp)")

    def teach(self, z_prev, target, phase, params, ctx: RuleContext) -> Teaching | None:
        r"""In a positive phase: the nudge :math:`\beta W^{\mathrm{out}\top}(t - W^\mathrm{out} z_{t-1} - b^\mathrm{out})`,
        or the clamp of the readout's units (the columns of :math:`W^\mathrm{out}` that are not zero)."""
        if phase is None or phase <= 0:
            return None
        if self.teaching == "nudge":
            y_prev = z_prev @ params.w_out.T + params.b_out  # the readout of the rates the step reads
            return Teaching(drive=self.beta * (target - y_prev) @ params.w_out)
        rate = (target * (1 - 2 * self.clamp_margin) + self.clamp_margin) @ params.w_out
        mask = (params.w_out != 0).any(0).expand_as(rate)
        return Teaching(clamp=mask, rate=rate)

    def third_factor(self, delta, params, feedback):
        return delta  # the phase signal is the third factor; the output error is not read


@dataclass(frozen=True)
class Contrastive(_Teacher, Rule):
    """Temporally local CL: Hebbian local term times a broadcast phase signal, applied every step."""

    delivery: str = "broadcast"
    split_signed: bool = False  #: deliver s(t) as a positive and a negative unsigned part
    spiking: bool = False  #: the post factor is a filtered spike train (post_trace), not a rate of the state
    targets: frozenset[Target] = CONTRASTIVE_TARGETS
    update_interval: int = 1  #: applied at every step
    p_plus: float = 0.5  #: the phase process's occupancy of the positive phase (importance weights)
    baseline_steps: float = 0.0  #: time constant (steps) of a per-synapse trace of g subtracted from g; 0: off
    name: ClassVar[str] = "contrastive"

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERIES:
            raise ConfigError(f"rule.delivery must be one of {DELIVERIES}, got {self.delivery!r}")
        if self.split_signed and self.delivery == "broadcast":
            raise ConfigError('rule.split_signed applies to delivery = "post" (per-neuron third factors)')
        if not self.targets:
            raise ConfigError("contrastive learning needs at least one target parameter")
        if not (self.baseline_steps == 0 or self.baseline_steps >= 1):
            raise ConfigError(f"contrastive baseline_steps must be 0 or >= 1 step, got {self.baseline_steps!r}")
        importance_weights(self.p_plus)
        self._check_teaching()

    @property
    def temporal(self) -> Temporal:
        return Temporal.ONLINE

    @property
    def reads(self) -> frozenset[Read]:
        if self.delivery == "broadcast":
            phase = Read(Signal.BROADCAST_SIGNAL, Scope.CHIP, signed=True)
        else:
            signed, count = (False, 2) if self.split_signed else (True, 1)
            phase = Read(Signal.LEARNING_SIGNAL, Scope.POST, signed, count)
        post = Read(Signal.POST_TRACE if self.spiking else Signal.POST_STATE, Scope.POST)
        return frozenset({Read(Signal.PRE_TRACE, Scope.PRE), post, phase})

    def signal(self, phase: float) -> float:
        """The broadcast third factor :math:`s_t` of a phase (+1, -1, or 0: plasticity off)."""
        s_plus, s_minus = importance_weights(self.p_plus)
        return s_plus if phase > 0 else s_minus if phase < 0 else 0.0

    def initial(self, ctx: RuleContext) -> ContrastiveState:
        return ContrastiveState({})

    def step(self, state: ContrastiveState, s: StepSignals, ctx: RuleContext) -> ContrastiveState:
        r""":math:`-c\,s_t\,(g_t - \bar g)` with the baseline trace :math:`\bar g \leftarrow \bar g + (g_t - \bar g)/\tau_b`."""
        if not s.phase:
            return ContrastiveState({})
        g = hebbian(s.x, s.z, self.targets)
        if self.baseline_steps:
            gbar = ctx.carry.setdefault(_BASELINE, {t: torch.zeros_like(v) for t, v in g.items()})
            for t in g:
                g[t], gbar[t] = g[t] - gbar[t], gbar[t] + (g[t] - gbar[t]) / self.baseline_steps
        factor = -self.scale * self.signal(s.phase)
        return ContrastiveState({t: factor * v for t, v in g.items()})

    def gradients(self, state: ContrastiveState, ctx: RuleContext):
        return state.grads, ContrastiveState({})


@dataclass(frozen=True)
class ClassicalContrastive(_Teacher, Rule):
    """Two-phase CL with the free phase's state stored until the update: the non-local reference."""

    targets: frozenset[Target] = CONTRASTIVE_TARGETS
    update_interval: int | None = None  #: once per presentation (after both phases)
    name: ClassVar[str] = "contrastive_classical"

    def __post_init__(self) -> None:
        self._check_teaching()

    @property
    def temporal(self) -> Temporal:
        return Temporal.OFFLINE

    @property
    def reads(self) -> frozenset[Read]:
        return frozenset({Read(Signal.PRE_TRACE, Scope.PRE), Read(Signal.POST_STATE, Scope.POST),
                          Read(Signal.HISTORY, Scope.HOST)})

    def initial(self, ctx: RuleContext) -> ContrastiveState:
        return ContrastiveState({}, None)

    def step(self, state: ContrastiveState, s: StepSignals, ctx: RuleContext) -> ContrastiveState:
        """Keep the term of the last free step (the stored history) and of the current step."""
        if not s.phase:
            return state
        g = hebbian(s.x, s.z, self.targets)
        return ContrastiveState(g, g if s.phase < 0 else state.g_free)

    def gradients(self, state: ContrastiveState, ctx: RuleContext):
        r""":math:`-c\,[g(a_+) - g(a_-)]` at the end of the presentation."""
        if state.g_free is None or not state.grads:
            return {}, ContrastiveState({}, None)
        return {t: -self.scale * (g - state.g_free[t]) for t, g in state.grads.items()}, ContrastiveState({}, None)
