r"""Random-feedback local online learning (RFLO) as a three-factor rule (Murray 2019).

RFLO keeps, for every synapse, a presynaptic trace whose decay belongs to the
*postsynaptic* neuron, and multiplies it by the post factor and a learning signal:

.. math::

    E_{ji}^t = d_j^t E_{ji}^{t-1} + s\, \mathrm{pre}_i^t, \qquad
    e_{ji}^t = \psi_j^t E_{ji}^t, \qquad
    \Delta W_{ji} = -\eta \Big[\sum_t L_j^t \bar e_{ji}^t + r_j \sum_t e_{ji}^t\Big]

with :math:`\mathrm{pre}^t = x_t` (input), :math:`z_{t-1}` (recurrent) or 1 (bias),
:math:`s` the drive scale of the neuron, :math:`L^t = B\delta^t` and the κ-filtered
:math:`\bar e` of e-prop (:mod:`.eprop`). The decay :math:`d_j^t` is

* ``decay = λ`` (a float): :math:`D = \lambda I`, the same for every neuron. Then
  every update lies in the span of the feedback columns: the rank restriction
  (Williams, Payeur & Lajoie 2026, docs/theory.md, check 11);
* ``decay = (d_1, ..., d_n)``: a fixed per-neuron decay, which breaks the restriction;
* ``"leak"``: the neuron's own state decay :math:`1 - a` (Murray's choice). On rate
  units RFLO is then e-prop with the same feedback (Zhang, Liu & Liu, docs/gain.md);
* ``"jacobian"``: the diagonal of the true Jacobian,
  :math:`d_j^t = \partial u_j^t/\partial u_j^{t-1} = (1-a) + a W^\mathrm{rec}_{jj}\psi_j^{t-1}`,
  self-connection included. With symmetric feedback this is the "symmetric e-prop"
  of the linear theory, which equals BPTT whenever :math:`W` is diagonal
  (Williams, Payeur & Lajoie 2026, docs/theory.md).

On the linear unit (:math:`\psi = 1`, :math:`a = 1`) with ``decay = λ`` this is the
RFLO of Williams, Payeur & Lajoie: :math:`G_W = \sum_k D^k \hat A^\top e\, h_{T-1-k}^\top`
(Williams, Payeur & Lajoie 2026, docs/theory.md), with :math:`\hat A^\top` the feedback matrix. For the leak-then-
nonlinearity unit of :mod:`neuromorph.dynamics.rate`, dropping the off-diagonal
sensitivities puts :math:`\psi` outside the trace; Murray's placement inside it
belongs to his unit :math:`h_t = (1-a)h_{t-1} + a\phi(u_t)`.

Two modes give the same numbers: ``ONLINE`` keeps :math:`E` per synapse (the chip's
state) and may update every ``update_interval`` steps; ``FACTORED`` computes the exact
end-of-sequence update with an anti-causal per-neuron scan and one matrix product,

.. math::

    g_{ji} = s \sum_{t,b} G_j^t\, \mathrm{pre}_i^t, \qquad
    G_j^t = \psi_j^t c_j^t + d_j^{t+1} G_j^{t+1}

with :math:`c` the κ-filtered learning signal (the torch backend's ``factored`` form).

References
----------
Murray, eLife 8:e43299 (2019), eqs. (13)-(16); Williams, Payeur & Lajoie,
arXiv:2606.00243 (2026); Bellec et al., Nat. Commun. 11:3625 (2020).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics import require
from neuromorph.errors import ConfigError, UnsupportedPairingError
from neuromorph.plasticity.base import DEFAULT_TARGETS, Read, RuleContext, Scope, Signal, StepSignals, Target, Temporal
from neuromorph.plasticity.eprop_online import OnlineState, accumulate, online_init
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.plasticity.three_factor import Feedback, Mode, ThreeFactorRule, check_three_factor, three_factor_reads
from neuromorph.plasticity.traces import PreTraces, TraceConstants, pre_trace_step, zero_traces

DECAY_NAMES = ("leak", "jacobian")


class RFLOState(NamedTuple):
    """RFLO's state in a sequence: readout traces, the fixed decay (None: the Jacobian's), per-synapse traces."""

    traces: PreTraces
    decay: torch.Tensor | None
    online: OnlineState


@dataclass(frozen=True)
class RFLO(ThreeFactorRule):
    """RFLO declaration: ``decay`` is a float λ, a per-neuron tuple, ``"leak"`` or ``"jacobian"``."""

    feedback: Feedback = Feedback.RANDOM
    decay: float | tuple[float, ...] | str = "leak"
    mode: Mode = Mode.FACTORED
    update_interval: int | None = None
    targets: frozenset[Target] = DEFAULT_TARGETS
    regularization: RateRegularization = field(default_factory=RateRegularization)
    split_signed: bool = False  #: deliver L and the output error as two unsigned parts
    name: ClassVar[str] = "rflo"

    def __post_init__(self) -> None:
        check_three_factor(self)
        if Target.THRESHOLD in self.targets:
            raise ConfigError("rflo's trace decays with the neuron, which a threshold does not: learn 'threshold' "
                              "with rule.name = \"eprop\" (or bptt), or learn 'bias' with rflo")
        if isinstance(self.decay, str) and self.decay not in DECAY_NAMES:
            raise ConfigError(
                f"rule.decay must be a number, a list of numbers or one of {DECAY_NAMES}, got {self.decay!r}"
            )
        if isinstance(self.decay, (int, float)) and not isinstance(self.decay, bool) and not -1 < self.decay < 1:
            raise ConfigError(f"rule.decay = {self.decay} must lie in (-1, 1) for a stable trace")
        if isinstance(self.decay, tuple) and not all(-1 < d < 1 for d in self.decay):
            raise ConfigError(f"every per-neuron rule.decay must lie in (-1, 1), got {self.decay}")

    @property
    def temporal(self) -> Temporal:
        return Temporal.ONLINE

    @property
    def reads(self) -> frozenset[Read]:
        reads = set(three_factor_reads(self, pre=Signal.PRE_SPIKE))  # the trace decays with the post neuron
        if self.decay == "jacobian":  # the autapse weight W_jj and the previous post factor
            reads.add(Read(Signal.POST_STATE, Scope.POST))
        return frozenset(reads)

    def check(self, network) -> None:
        """RFLO needs a neuron with one leaky stage and no adaptation (LIF, rate units)."""
        neuron = network.neuron
        require(neuron, "eligibility", f"rule {self.name!r}", "the neuron's leak (its eligibility terms)")
        e = neuron.eligibility(network.dt, network.n_rec, torch.float64)
        if e.adaptive or len(e.filters) != 1:
            what = "an adaptation variable" if e.adaptive else f"{len(e.filters)} filter stages"
            raise UnsupportedPairingError(
                f"rule 'rflo' keeps one trace per synapse that decays with the postsynaptic neuron's leak; neuron "
                f"{type(neuron).describe()} has {what}, which that trace cannot follow; use rule.name = \"eprop\" "
                "(exact eligibility for this neuron) or \"bptt\"")

    def initial(self, ctx: RuleContext) -> RFLOState:
        c = ctx.consts
        tr = zero_traces(ctx.batch, ctx.n_in, ctx.n_rec, ctx.dtype, ctx.device)
        return RFLOState(tr, fixed_decay(self, c, ctx.n_rec, ctx.dtype, ctx.device),
                         online_init(self.targets, tr, ctx.n_out, False, synaptic_trace=True,
                                     per_sequence=self.regularization.per_sequence))

    def step_decay(self, state: RFLOState, s: StepSignals, ctx: RuleContext) -> torch.Tensor:
        """:math:`d^t`: the fixed decay, or the Jacobian's diagonal from :math:`\\psi^{t-1}`."""
        return jacobian_decay(ctx.consts, s.params.w_rec, s.psi_prev) if state.decay is None else state.decay

    def step(self, state: RFLOState, s: StepSignals, ctx: RuleContext) -> RFLOState:
        c = ctx.consts
        tr = pre_trace_step(state.traces, c, s.x, s.z_prev, s.z)
        if ctx.project is not None:
            tr = ctx.project(tr)
        pres = {Target.W_IN: s.x, Target.W_REC: s.z_prev, Target.BIAS: tr.bias.new_ones(s.x.shape[0], 1)}
        online = rflo_online_step(state.online, c, pres, self.step_decay(state, s, ctx), s.psi, tr, s.z,
                                  s.learning, s.delta)
        return RFLOState(tr, state.decay, online)

    def observe(self, state: RFLOState, s: StepSignals, ctx: RuleContext) -> dict[str, torch.Tensor]:
        """RFLO's trace is per synapse (decay d_j): the neuron's presynaptic traces are not its state."""
        decay = self.step_decay(state, s, ctx)
        return {"post_term": s.psi, "learning_signal": s.learning, "output_error": s.delta,
                "trace_decay": decay.expand(s.psi.shape[0], s.psi.shape[1])}


def fixed_decay(rule: RFLO, c: TraceConstants, n_rec: int, dtype: torch.dtype,
                device: torch.device | str | None = None) -> torch.Tensor | None:
    """Per-neuron decay (n_rec,) for the fixed choices; ``None`` for ``"jacobian"`` (see :func:`jacobian_decay`)."""
    if rule.decay == "jacobian":
        return None
    if rule.decay == "leak":
        return torch.full((n_rec,), c.alpha, dtype=dtype, device=device)
    if isinstance(rule.decay, tuple):
        if len(rule.decay) != n_rec:
            raise ConfigError(f"rule.decay has {len(rule.decay)} entries, expected one per neuron ({n_rec})")
        return torch.tensor(rule.decay, dtype=dtype, device=device)
    return torch.full((n_rec,), float(rule.decay), dtype=dtype, device=device)


def jacobian_decay(c: TraceConstants, w_rec: torch.Tensor, psi_prev: torch.Tensor) -> torch.Tensor:
    """:math:`d^t = \\alpha + s\\,\\mathrm{diag}(W^\\mathrm{rec})\\,\\psi^{t-1}`, shape like ``psi_prev``."""
    return c.alpha + c.s_in * torch.diagonal(w_rec) * psi_prev


def rflo_online_step(
    s: OnlineState,
    c: TraceConstants,
    pres: dict[Target, torch.Tensor],
    decay: torch.Tensor,
    psi: torch.Tensor,
    tr,
    z: torch.Tensor,
    learning: torch.Tensor,
    delta: torch.Tensor,
) -> OnlineState:
    """One step of the per-synapse traces :math:`E` (``pres``: raw presynaptic activity per target)."""
    trace, eligibility = dict(s.trace), {}
    d = decay.unsqueeze(-1)  # (n_rec, 1) or (B, n_rec, 1)
    for target in s.ebar:
        trace[target] = d * trace[target] + c.s_in * pres[target].unsqueeze(1)
        eligibility[target] = psi.unsqueeze(2) * trace[target]
    return accumulate(s._replace(trace=trace), c, eligibility, tr, z, learning, delta)
