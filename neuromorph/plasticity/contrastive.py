r"""Temporally local contrastive learning as a three-factor rule (Williams, Bredenberg & Lajoie 2023).

Contrastive learning (CL) moves the parameters along the difference of a local term between a
positive (nudged or clamped) and a negative (free) phase,
:math:`\nabla_\theta L = \mathbb E_{+}[g] - \mathbb E_{-}[g]` (THEORY.md §3.2). The *classical* rule
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

Declared reads (what the setup check places on a chip, :mod:`neuromorph.hardware.locality`):

* the presynaptic rate as a trace at ``pre``; the postsynaptic rate at ``post``, a function of the
  neuron's state for rate units (``post_state``) or its filtered spike train for spiking units
  (``post_trace``, ``spiking = True``);
* the phase signal: ``broadcast_signal`` at scope ``chip`` (``delivery = "broadcast"``), or, where a
  chip has no chip-wide signal its learning engine can read, the same value sent into every neuron
  as a per-neuron third factor (``delivery = "post"``: ``learning_signal`` at ``post``; on Loihi 2
  graded spikes into each post neuron's y2/y3, HARDWARE.md §1); the sign is split into a positive
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
from typing import ClassVar

import torch

from neuromorph.errors import ConfigError
from neuromorph.plasticity.base import Read, Scope, Signal, Target, Temporal

DELIVERIES = ("broadcast", "post")
CONTRASTIVE_TARGETS = frozenset({Target.W_IN, Target.W_REC, Target.BIAS})


@dataclass(frozen=True)
class Contrastive:
    """Temporally local CL: Hebbian local term times a broadcast phase signal, applied every step."""

    delivery: str = "broadcast"
    split_signed: bool = False  #: deliver s(t) as a positive and a negative unsigned part
    spiking: bool = False  #: the post factor is a filtered spike train (post_trace), not a rate of the state
    targets: frozenset[Target] = CONTRASTIVE_TARGETS
    update_interval: int = 1  #: applied at every step
    name: ClassVar[str] = "contrastive"

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERIES:
            raise ConfigError(f"rule.delivery must be one of {DELIVERIES}, got {self.delivery!r}")
        if self.split_signed and self.delivery == "broadcast":
            raise ConfigError('rule.split_signed applies to delivery = "post" (per-neuron third factors)')
        if not self.targets:
            raise ConfigError("contrastive learning needs at least one target parameter")

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


@dataclass(frozen=True)
class ClassicalContrastive:
    """Two-phase CL with the free phase's state stored until the update: the non-local reference."""

    targets: frozenset[Target] = CONTRASTIVE_TARGETS
    update_interval: int | None = None  #: once per presentation (after both phases)
    name: ClassVar[str] = "contrastive_classical"

    @property
    def temporal(self) -> Temporal:
        return Temporal.OFFLINE

    @property
    def reads(self) -> frozenset[Read]:
        return frozenset({Read(Signal.PRE_TRACE, Scope.PRE), Read(Signal.POST_STATE, Scope.POST),
                          Read(Signal.HISTORY, Scope.HOST)})


def local_update(params: dict[str, torch.Tensor], g: dict[str, torch.Tensor], signal: float, lr: float) -> None:
    r"""In place: :math:`\theta \leftarrow \theta + \eta\, s_t\, g_t` (the temporally local rule)."""
    for name, value in g.items():
        params[name].add_(value, alpha=lr * signal)


def classical_update(params: dict[str, torch.Tensor], g_plus: dict[str, torch.Tensor],
                     g_minus: dict[str, torch.Tensor], lr: float) -> None:
    r"""In place: :math:`\theta \leftarrow \theta + \eta\,[g(a_+) - g(a_-)]` (needs the stored free state)."""
    for name, plus in g_plus.items():
        params[name].add_(plus - g_minus[name], alpha=lr)
