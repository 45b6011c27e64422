r"""What e-prop and RFLO share: feedback, execution mode, the learning signal, the declared reads.

Both are feedback-driven three-factor rules (Bellec et al. 2020; Murray 2019):

.. math::

    \Delta W_{ji} = -\eta \Big[\sum_t L_j^t\, \bar e_{ji}^t + r_j \sum_t e_{ji}^t\Big], \qquad
    L_j^t = \sum_k B_{jk}\, \delta_k^t

with :math:`\delta^t = \partial E/\partial y^t` (:mod:`.losses`), :math:`B` the feedback matrix
(:class:`Feedback`) and :math:`r_j` the firing-rate term of :class:`.losses.RateRegularization`.
They differ only in the eligibility :math:`e_{ji}^t` (:mod:`.eprop`, :mod:`.rflo`).
"""

from __future__ import annotations

import enum

import torch

from neuromorph.errors import ConfigError
from neuromorph.plasticity.base import Read, Rule, Scope, Signal, Target
from neuromorph.plasticity.eprop_online import online_gradients


class Feedback(enum.Enum):
    """How the output error reaches the hidden neurons."""

    SYMMETRIC = "symmetric"
    RANDOM = "random"
    ADAPTIVE = "adaptive"


class Mode(enum.Enum):
    """How the eligibility is computed (same result where both apply)."""

    ONLINE = "online"
    FACTORED = "factored"


class ThreeFactorRule(Rule):
    """Shared behaviour of e-prop and RFLO (subclasses are frozen dataclasses with the fields used here)."""

    feedback: Feedback
    mode: Mode

    @property
    def factored(self) -> bool:
        return self.mode is Mode.FACTORED

    def third_factor(self, delta: torch.Tensor, params, feedback: torch.Tensor) -> torch.Tensor:
        r""":math:`L^t = \delta^t B^\top`: the output error sent back through the feedback weights."""
        return delta @ feedback_matrix(self, params, feedback).T

    def gradients(self, state, ctx):
        r"""The window's accumulated :math:`\sum L\bar e + r\sum e` per target; accumulators cleared."""
        grads, online = online_gradients(state.online, self.regularization, ctx.dt)
        return grads, state._replace(online=online)


def feedback_matrix(rule: ThreeFactorRule, params, feedback: torch.Tensor) -> torch.Tensor:
    r""":math:`B` (n_rec, n_out): :math:`W^{\mathrm{out}\top}` for symmetric feedback, else ``feedback``."""
    return params.w_out.T if rule.feedback is Feedback.SYMMETRIC else feedback


def check_three_factor(rule: ThreeFactorRule) -> None:
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


def three_factor_reads(rule: ThreeFactorRule, pre: Signal = Signal.PRE_TRACE) -> frozenset[Read]:
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
    (Williams et al., ICLR 2025; docs/bias.md), the cheapest three-factor rule a chip can run. So does learning the
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
