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
(the torch backend's ``factored`` form).

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), eqs. (1)-(4), Methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics import require
from neuromorph.plasticity.base import DEFAULT_TARGETS, Read, RuleContext, StepSignals, Target, Temporal
from neuromorph.plasticity.eprop_online import OnlineState, online_init, online_step
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.plasticity.three_factor import (
    Feedback,
    Mode,
    ThreeFactorRule,
    check_three_factor,
    three_factor_reads,
)
from neuromorph.plasticity.traces import (
    InnerTraces,
    PreTraces,
    inner_trace_step,
    pre_trace_step,
    zero_inner,
    zero_traces,
)

__all__ = ["EProp", "EPropState", "Feedback", "Mode"]


class EPropState(NamedTuple):
    """e-prop's state in a sequence: inner-stage traces, presynaptic/readout traces, eligibility and accumulators."""

    inner: tuple[InnerTraces, ...]
    traces: PreTraces
    online: OnlineState


@dataclass(frozen=True)
class EProp(ThreeFactorRule):
    """e-prop rule. ``update_interval=None`` updates at the end of each sequence."""

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

    def check(self, network) -> None:
        """e-prop needs the neuron's eligibility terms (:meth:`neuromorph.dynamics.Neuron.eligibility`)."""
        require(network.neuron, "eligibility", f"rule {self.name!r}",
                "the eligibility terms of its state (trace filters, adaptation)")

    def initial(self, ctx: RuleContext) -> EPropState:
        c = ctx.consts
        tr = zero_traces(ctx.batch, ctx.n_in, ctx.n_rec, ctx.dtype, ctx.device)
        return EPropState(zero_inner(c, ctx.batch, ctx.n_in, ctx.n_rec, ctx.dtype, ctx.device), tr,
                          online_init(self.targets, tr, ctx.n_out, c.adaptive,
                                      per_sequence=self.regularization.per_sequence))

    def step(self, state: EPropState, s: StepSignals, ctx: RuleContext) -> EPropState:
        r"""Traces :math:`P^t` (through the neuron's filter stages), then :math:`e^t`, :math:`\bar e^t` and the accumulators."""
        c = ctx.consts
        inner, u_in, u_rec, u_b = inner_trace_step(state.inner, c, s.x, s.z_prev)
        tr = pre_trace_step(state.traces, c, u_in, u_rec, s.z, u_b)
        if ctx.project is not None:
            tr = ctx.project(tr)
        return EPropState(inner, tr, online_step(state.online, c, tr, s.psi, s.z, s.learning, s.delta))

    def observe(self, state: EPropState, s: StepSignals, ctx: RuleContext) -> dict[str, torch.Tensor]:
        return {"pre_trace_in": state.traces.inp, "pre_trace_rec": state.traces.rec, "post_term": s.psi,
                "learning_signal": s.learning, "output_error": s.delta}
