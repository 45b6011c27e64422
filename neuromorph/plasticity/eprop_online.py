r"""Online e-prop: per-synapse eligibility state, updated every step.

This is the state a chip holds. Per step t and hidden target (pre trace :math:`P^t`):

.. math::

    e^t_{ji} &= \psi^t_j\,(P^t_i - \beta_j\, \epsilon^{a,t}_{ji}) \qquad (\beta = 0 \text{ for LIF}) \\
    \epsilon^{a,t+1}_{ji} &= \psi^t_j P^t_i + (\rho - \beta_j \psi^t_j)\, \epsilon^{a,t}_{ji} \\
    \bar e^t &= \kappa\, \bar e^{t-1} + s_\mathrm{out}\, e^t \\
    A &\mathrel{+}= \textstyle\sum_b L^t_j \bar e^t_{ji}, \qquad
    S \mathrel{+}= \textstyle\sum_b e^t_{ji}

At the end of an update window of U steps the gradient is :math:`A + \sum_b r_b \odot S_b`, with the
firing-rate term :math:`r` of :meth:`.losses.RateRegularization.coefficient` computed from the window's spike
counts: the batch's rate over the window (``rate = "batch"``, one :math:`r` for all sequences, so :math:`S` is
kept summed over the batch) or each sequence's own rate over the window's U steps, :math:`n_{b,j}/U`
(``rate = "sequence"``, as NEST 3.10 per update interval; :math:`S_b` kept per sequence). With one window per
sequence this is the end-of-sequence update of :mod:`neuromorph.backends.torch.factored`. Then the accumulators
are cleared, and the traces carry on. Readout: :math:`A^\mathrm{out} \mathrel{+}= \delta^{t\top} Z^{\kappa,t}`.
Memory: three tensors of shape (B, n_rec, n_pre) per hidden target (four with ``rate = "sequence"``).

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), eqs. (13)-(14) and Methods (ALIF).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from neuromorph.plasticity.base import HIDDEN_TARGETS, PER_NEURON, Target
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.plasticity.traces import PreTraces, TraceConstants


class OnlineState(NamedTuple):
    """Per-synapse eligibility state and the window accumulators, keyed by target."""

    ebar: dict[Target, torch.Tensor]  #: filtered eligibility (B, n_rec, n_pre)
    eps_a: dict[Target, torch.Tensor]  #: ALIF adaptation eligibility (B, n_rec, n_pre)
    trace: dict[Target, torch.Tensor]  #: per-synapse presynaptic trace E (B, n_rec, n_pre), RFLO only
    acc: dict[Target, torch.Tensor]  #: sum_t sum_b L ebar (or readout terms)
    acc_e: dict[Target, torch.Tensor]  #: sum_t sum_b e (n_rec, n_pre), or sum_t e per sequence (B, n_rec, n_pre)
    spike_count: torch.Tensor  #: (B, n_rec) spikes of each sequence in this window
    steps: int  #: steps in this window


def _pre(tr: PreTraces, target: Target) -> torch.Tensor:
    """The presynaptic factor of ``target``; the threshold offset's is the constant -1 (no leak)."""
    if target is Target.THRESHOLD:
        return -torch.ones_like(tr.bias)
    return {Target.W_IN: tr.inp, Target.W_REC: tr.rec, Target.BIAS: tr.bias}[target]


def online_init(
    targets: frozenset[Target], tr: PreTraces, n_out: int, adaptive: bool, synaptic_trace: bool = False,
    per_sequence: bool = False,
) -> OnlineState:
    """Zero state for a new sequence (shapes taken from the traces); ``synaptic_trace`` for RFLO;
    ``per_sequence``: keep :math:`S` per sequence (:attr:`.RateRegularization.per_sequence`)."""
    batch, n_rec = tr.rec.shape
    hidden = [t for t in HIDDEN_TARGETS if t in targets]
    on = {"dtype": tr.rec.dtype, "device": tr.rec.device}
    zeros = {t: torch.zeros(batch, n_rec, _pre(tr, t).shape[1], **on) for t in hidden}
    acc = {t: torch.zeros_like(zeros[t][0]) for t in hidden}
    if Target.W_OUT in targets:
        acc[Target.W_OUT] = torch.zeros(n_out, n_rec, dtype=tr.rec.dtype, device=tr.rec.device)
    if Target.B_OUT in targets:
        acc[Target.B_OUT] = torch.zeros(n_out, 1, dtype=tr.rec.dtype, device=tr.rec.device)
    return OnlineState(
        ebar=zeros,
        eps_a={t: z.clone() for t, z in zeros.items()} if adaptive else {},
        trace={t: z.clone() for t, z in zeros.items()} if synaptic_trace else {},
        acc=acc,
        acc_e={t: z.clone() if per_sequence else torch.zeros_like(acc[t]) for t, z in zeros.items()},
        spike_count=torch.zeros(batch, n_rec, dtype=tr.rec.dtype, device=tr.rec.device),
        steps=0,
    )


def online_step(
    s: OnlineState,
    c: TraceConstants,
    tr: PreTraces,
    psi: torch.Tensor,
    z: torch.Tensor,
    learning: torch.Tensor,
    delta: torch.Tensor,
) -> OnlineState:
    """Advance the eligibility state by one step (``tr`` holds the traces of step t)."""
    eps_a, eligibility = dict(s.eps_a), {}
    for target in s.ebar:
        drive = psi.unsqueeze(2) * _pre(tr, target).unsqueeze(1)
        e = drive
        if c.adaptive:
            e = drive - (c.beta * psi).unsqueeze(2) * eps_a[target]
            eps_a[target] = drive + (c.rho - c.beta * psi).unsqueeze(2) * eps_a[target]
        eligibility[target] = e
    return accumulate(s._replace(eps_a=eps_a), c, eligibility, tr, z, learning, delta)


def accumulate(
    s: OnlineState,
    c: TraceConstants,
    eligibility: dict[Target, torch.Tensor],
    tr: PreTraces,
    z: torch.Tensor,
    learning: torch.Tensor,
    delta: torch.Tensor,
) -> OnlineState:
    """Filter this step's eligibility ``e`` with κ and add :math:`L\bar e`, ``e`` and the readout terms."""
    ebar, acc, acc_e = dict(s.ebar), dict(s.acc), dict(s.acc_e)
    for target, e in eligibility.items():
        ebar[target] = c.kappa * ebar[target] + c.s_out * e
        acc[target] = acc[target] + (learning.unsqueeze(2) * ebar[target]).sum(0)  # 5x faster than einsum here
        acc_e[target] = acc_e[target] + (e if acc_e[target].dim() == 3 else e.sum(0))
    if Target.W_OUT in acc:
        acc[Target.W_OUT] = acc[Target.W_OUT] + delta.T @ tr.out
    if Target.B_OUT in acc:
        acc[Target.B_OUT] = acc[Target.B_OUT] + delta.T @ tr.out_bias
    return s._replace(ebar=ebar, acc=acc, acc_e=acc_e, spike_count=s.spike_count + z, steps=s.steps + 1)


def rate_term(r: torch.Tensor, summed: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_b r_{b,j} S_{b,ji}`: ``r`` (n,) against :math:`S` summed over the batch (n, m), or ``r`` (B, n)
    against :math:`S` per sequence (B, n, m) (:func:`online_init`'s ``per_sequence``)."""
    if r.dim() != summed.dim() - 1:
        raise ValueError(f"rate term {tuple(r.shape)} against eligibility sums {tuple(summed.shape)}: the online state "
                         "was made for the other rule.regularization.rate (online_init's per_sequence)")
    term = r.unsqueeze(-1) * summed
    return term.sum(0) if term.dim() == 3 else term


def online_gradients(
    s: OnlineState, reg: RateRegularization, dt: float
) -> tuple[dict[Target, torch.Tensor], OnlineState]:
    """Gradients of the window that just ended, and the state with cleared accumulators."""
    grads = dict(s.acc)
    if reg.strength > 0 and s.acc_e:
        r = reg.coefficient(s.spike_count, s.steps, dt)
        for target, summed in s.acc_e.items():
            grads[target] = grads[target] + rate_term(r, summed)
    for target in PER_NEURON:
        if target in grads:
            grads[target] = grads[target].squeeze(1)
    cleared = s._replace(
        acc={t: torch.zeros_like(a) for t, a in s.acc.items()},
        acc_e={t: torch.zeros_like(a) for t, a in s.acc_e.items()},
        spike_count=torch.zeros_like(s.spike_count),
        steps=0,
    )
    return grads, cleared
