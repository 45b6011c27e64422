r"""e-prop as a three-factor rule (Bellec et al. 2020).

.. math::

    \Delta W_{ji} = -\eta \Big[\sum_t L_j^t\, \bar e_{ji}^t
        + r_j \sum_t e_{ji}^t\Big], \qquad
    L_j^t = \sum_k B_{jk}\, \delta_k^t, \qquad
    \bar e^t = \kappa \bar e^{t-1} + s_\mathrm{out} e^t

with :math:`\delta^t = \partial E/\partial y^t` (:mod:`.losses`), the
eligibility :math:`e_{ji}^t = \psi_j^t P_i^t` for LIF and
:math:`e_{ji}^t = \psi_j^t(P_i^t - \beta_j \epsilon^{a,t}_{ji})` for ALIF,
:math:`\epsilon^{a,t+1}_{ji} = \psi_j^t P_i^t + (\rho - \beta_j\psi_j^t)\epsilon^{a,t}_{ji}`,
and the optional firing-rate term :math:`r_j` of :class:`.losses.RateRegularization`.
The readout learns with its exact local gradient
:math:`\Delta W^\mathrm{out}_{kj} = -\eta \sum_t \delta_k^t Z^{\kappa,t}_j`.

Feedback :math:`B`: ``SYMMETRIC`` (:math:`B = W^{\mathrm{out}\top}`), ``RANDOM``
(fixed), ``ADAPTIVE`` (:math:`\Delta B = \Delta W^{\mathrm{out}\top}`, with the same
decoupled weight decay on both; Kolen-Pollack as in the paper's Methods).

Two execution modes compute the same numbers where both apply:
``ONLINE`` keeps per-synapse eligibility state (what a chip holds) and can
update every ``update_interval`` steps; ``FACTORED`` computes the exact
end-of-sequence update from per-neuron factors with matrix products
(:mod:`.eprop_factored`).

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), eqs. (1)-(4), Methods; THEORY.md §5.1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from neuromorph.errors import ConfigError
from neuromorph.plasticity.base import DEFAULT_TARGETS, Read, Scope, Signal, Target, Temporal
from neuromorph.plasticity.losses import RateRegularization

if TYPE_CHECKING:
    from neuromorph.plasticity.rflo import RFLO


class Feedback(enum.Enum):
    """How the output error reaches the hidden neurons."""

    SYMMETRIC = "symmetric"
    RANDOM = "random"
    ADAPTIVE = "adaptive"


class Mode(enum.Enum):
    """How the eligibility is computed (same result where both apply)."""

    ONLINE = "online"
    FACTORED = "factored"


@dataclass(frozen=True)
class EProp:
    """e-prop rule declaration. ``update_interval=None`` updates at the end of each sequence."""

    feedback: Feedback = Feedback.RANDOM
    mode: Mode = Mode.FACTORED
    update_interval: int | None = None
    targets: frozenset[Target] = DEFAULT_TARGETS
    regularization: RateRegularization = field(default_factory=RateRegularization)
    split_signed: bool = False  #: deliver L and the output error as two unsigned parts (chips with unsigned traces)
    name: ClassVar[str] = "eprop"

    def __post_init__(self) -> None:
        check_three_factor(self)

    @property
    def temporal(self) -> Temporal:
        return Temporal.ONLINE

    @property
    def reads(self) -> frozenset[Read]:
        return three_factor_reads(self)


def check_three_factor(rule: EProp | RFLO) -> None:
    """Checks shared by the feedback-driven three-factor rules (e-prop, RFLO)."""
    if not rule.targets:
        raise ConfigError(f"{rule.name} needs at least one target parameter")
    if rule.update_interval is not None:
        if not isinstance(rule.update_interval, int) or rule.update_interval < 1:
            raise ConfigError(f"rule.update_interval must be a positive integer, got {rule.update_interval!r}")
        if rule.mode is Mode.FACTORED:
            raise ConfigError(
                f"factored {rule.name} computes exact end-of-sequence updates; "
                "for updates every K steps set rule.mode = \"online\""
            )


def three_factor_reads(rule: EProp | RFLO, pre: Signal = Signal.PRE_TRACE) -> frozenset[Read]:
    r"""What e-prop and RFLO read on chip.

    Hidden targets read the presynaptic factor (e-prop's trace :math:`P_i`, RFLO's raw activity)
    at the presynaptic neuron, the pseudo-derivative at the postsynaptic neuron, the eligibility
    :math:`\bar e_{ji}` and the learning signal :math:`L_j`; the readout's exact local update reads
    its own output error :math:`\delta_k`. Both signals are signed unless ``split_signed``
    delivers each as a positive and a negative part (nengo-loihi's PES split). Symmetric feedback
    also reads :math:`W^{\mathrm{out}\top}` across the core; the rate regulariser reads the
    neuron's own firing rate.

    Bias-only tuning (hidden target ``bias`` alone) has :math:`\mathrm{pre} \equiv 1`: it reads no
    presynaptic signal and keeps one eligibility trace per *neuron*, not per synapse
    (THEORY.md §5.3), the cheapest three-factor rule a chip can run. So does learning the
    threshold offset (pre :math:`\equiv -1`, without the leak).
    """
    signed, count = (False, 2) if rule.split_signed else (True, 1)
    synaptic = bool(rule.targets & {Target.W_IN, Target.W_REC})
    hidden = synaptic or bool(rule.targets & {Target.BIAS, Target.THRESHOLD})
    reads = set()
    if hidden:
        reads |= {
            Read(Signal.PSEUDO_DERIVATIVE, Scope.POST),
            Read(Signal.ELIGIBILITY, Scope.SYNAPSE if synaptic else Scope.POST),
            Read(Signal.LEARNING_SIGNAL, Scope.POST, signed, count),
        }
        if synaptic:
            reads.add(Read(pre, Scope.PRE))
        if rule.feedback is Feedback.SYMMETRIC:
            reads.add(Read(Signal.WEIGHTS_TRANSPOSED, Scope.CORE))
        if rule.regularization.strength > 0:
            reads.add(Read(Signal.POST_STATE, Scope.POST))
    if rule.targets & {Target.W_OUT, Target.B_OUT}:
        reads.add(Read(Signal.OUTPUT_ERROR, Scope.POST, signed, count))
    return frozenset(reads)
