r"""The torch backend's factored forms: exact end-of-sequence e-prop and RFLO from per-neuron factors.

A backend form of a rule, registered against the rule type in :data:`FACTORED`. It runs after a
no-grad forward pass (:class:`Forward`) and computes the same update as the rule's online form
(:meth:`neuromorph.plasticity.EProp.step`, summed over the sequence) with matrix products.

Exchanging the order of the sums over the κ-filter turns the per-synapse
eligibility into a per-neuron coefficient (Bellec et al. 2020, Methods, eqs. 13-14, summed by parts):

.. math::

    \sum_t L^t_j \bar e^t_{ji} + r_j \sum_t e^t_{ji}
      = \sum_t c^t_j\, e^t_{ji}, \qquad
    c^t_j = s_\mathrm{out} G^t_j + r_j, \quad G^t = L^t + \kappa G^{t+1}

(:math:`r_j` the firing-rate term of :class:`~neuromorph.plasticity.RateRegularization`; :math:`r_{b,j}`, one per
sequence, with ``rate = "sequence"``.) For LIF, :math:`e^t_{ji} = \psi^t_j P^t_i`, so the update is one matrix product
:math:`g = \sum_{t,b} (c\,\psi)^{t\top} P^t`. For ALIF, the adaptation part of
the eligibility obeys a linear recursion driven by :math:`\psi^t_j P^t_i`; its
contribution follows from a per-neuron adjoint scan

.. math::

    \mu^t_j = \beta_j c^t_j \psi^t_j + (\rho - \beta_j \psi^t_j)\,\mu^{t+1}_j,
    \qquad \mu^T = 0, \qquad
    g_{ji} = \sum_{t,b} \psi^t_j \left(c^t_j - \mu^{t+1}_j\right) P^t_i

(derived in this package: expand
:math:`\epsilon^{a,t} = \sum_{s<t} \prod_{r=s+1}^{t-1} d_r\, \psi^s P^s` with
:math:`d_r = \rho - \beta\psi^r` and collect the terms of each :math:`s`). No
per-synapse state is ever formed; memory is :math:`O(T B (n_\mathrm{in} + n_\mathrm{rec}))`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from neuromorph.backends.base import TraceProjection
from neuromorph.backends.torch import compiled
from neuromorph.plasticity import RFLO, EProp
from neuromorph.plasticity.base import HIDDEN_TARGETS, PER_NEURON, RuleContext, Target
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.plasticity.rflo import fixed_decay, jacobian_decay
from neuromorph.plasticity.traces import (
    TraceConstants,
    inner_trace_step,
    pre_trace_step,
    reverse_scan,
    zero_inner,
    zero_traces,
)

#: ``scan(q, decay)``: the anti-causal filter :math:`G_t = q_t + d_t G_{t+1}` (torch loop or compiled)
Scan = Callable[[torch.Tensor, torch.Tensor | float], torch.Tensor]


class Forward(NamedTuple):
    """A no-grad forward pass, time-major: what every factored form starts from."""

    x: torch.Tensor  #: (T, B, n_in) inputs
    z_prev: torch.Tensor  #: (T, B, n_rec) z_{t-1}
    z: torch.Tensor  #: (T, B, n_rec)
    psi: torch.Tensor  #: (T, B, n_rec)
    y: torch.Tensor  #: (T, B, n_out)


class SequenceFactors(NamedTuple):
    """Per-step, per-neuron quantities of one sequence (all time-major)."""

    pre_in: torch.Tensor  #: (T, B, n_in)   P^in
    pre_rec: torch.Tensor  #: (T, B, n_rec)  P^rec
    pre_bias: torch.Tensor  #: (T, B, 1)      P^b
    psi: torch.Tensor  #: (T, B, n_rec)  pseudo-derivative
    learning: torch.Tensor  #: (T, B, n_rec)  L = delta B^T
    delta: torch.Tensor  #: (T, B, n_out)  output error
    out_trace: torch.Tensor  #: (T, B, n_rec)  Z^kappa
    out_bias_trace: torch.Tensor  #: (T, B, 1)   F_kappa(1)
    spike_count: torch.Tensor  #: (B, n_rec) spikes of each sequence, summed over time


def post_coefficient(
    f: SequenceFactors, c: TraceConstants, reg: RateRegularization, dt: float, scan: Scan = reverse_scan
) -> torch.Tensor:
    r"""The per-neuron factor multiplying :math:`P^t_i`: :math:`\psi^t(c^t - \mu^{t+1})`; the rate term :math:`r`
    (:meth:`.RateRegularization.coefficient`) is (n,) or, per sequence, (B, n), against (T, B, n)."""
    coeff = c.s_out * scan(f.learning, c.kappa)
    if reg.strength > 0:
        coeff = coeff + reg.coefficient(f.spike_count, f.psi.shape[0], dt)
    post = f.psi * coeff
    if c.adaptive:
        mu = scan(c.beta * post, c.rho - c.beta * f.psi)
        post = post - f.psi * torch.cat([mu[1:], torch.zeros_like(mu[:1])])
    return post


def factored_gradients(
    f: SequenceFactors, c: TraceConstants, reg: RateRegularization, dt: float, targets: frozenset[Target],
    scan: Scan = reverse_scan,
) -> dict[Target, torch.Tensor]:
    """Gradients (to be *subtracted*, scaled by the learning rate) for each target."""
    post = post_coefficient(f, c, reg, dt, scan) if targets & set(HIDDEN_TARGETS) else None
    return outer_products(post, f, targets)


def outer_products(
    post: torch.Tensor | None, f: SequenceFactors, targets: frozenset[Target]
) -> dict[Target, torch.Tensor]:
    r""":math:`g = \sum_{t,b} \mathrm{post}^{t\top} \mathrm{pre}^t` for the hidden targets
    (``post`` (T, B, n_rec) against ``f.pre_*``; the threshold offset's pre is the constant
    :math:`-1`, since :math:`\partial z/\partial\theta = -\psi` with no leak), and the readout's
    :math:`\sum_{t,b} \delta^{t\top} Z^{\kappa,t}`."""
    grads: dict[Target, torch.Tensor] = {}
    if post is not None:
        post = post.flatten(0, 1)
        pres = {Target.W_IN: f.pre_in, Target.W_REC: f.pre_rec, Target.BIAS: f.pre_bias,
                Target.THRESHOLD: -torch.ones_like(f.pre_bias)}
        for target, pre in pres.items():
            if target in targets:
                grads[target] = post.T @ pre.flatten(0, 1)
    delta = f.delta.flatten(0, 1)
    if Target.W_OUT in targets:
        grads[Target.W_OUT] = delta.T @ f.out_trace.flatten(0, 1)
    if Target.B_OUT in targets:
        grads[Target.B_OUT] = delta.T @ f.out_bias_trace.flatten(0, 1)
    for target in PER_NEURON:
        if target in grads:
            grads[target] = grads[target].squeeze(1)
    return grads


def _compiled(ctx: RuleContext) -> bool:
    """Whether this sequence's filters run compiled (``train.engine = "compiled"``, no inner stage, exact floats or a
    chip's trace grid)."""
    known = ctx.project is None or isinstance(ctx.project, TraceProjection)
    return ctx.engine == "compiled" and compiled.available() and known and not ctx.consts.inner


def _scan(ctx: RuleContext) -> Scan:
    return compiled.anticausal_filter if ctx.engine == "compiled" and compiled.available() else reverse_scan


def compiled_traces(fw: Forward, ctx: RuleContext) -> SequenceFactors:
    """:func:`eprop_traces` as compiled linear filters (neurons without inner stages), on a chip's trace grid where
    the context projects (:func:`.compiled.projected_filter`, with the stochastic rounding's draws taken as the torch
    loop takes them: every step, the five traces in order)."""
    c, T = ctx.consts, fw.x.shape[0]
    ones = torch.ones(T, ctx.batch, 1, dtype=ctx.dtype)
    channels = ((fw.x, c.alpha, c.s_in), (fw.z_prev, c.alpha, c.s_in), (ones, c.alpha, c.s_in),
                (fw.z, c.kappa, c.s_out), (ones, c.kappa, c.s_out))
    if ctx.project is None:
        inp, rec, bias, out, out_bias = (compiled.causal_filter(u, d, s) for u, d, s in channels)
    else:
        chip = ctx.project.chip
        g = chip.traces
        stochastic = g is not None and g.kind == "int" and g.rounding == "stochastic"
        draws = chip.uniform_steps(T, tuple(tuple(u.shape[1:]) for u, _, _ in channels), ctx.dtype) if stochastic \
            else [None] * len(channels)
        inp, rec, bias, out, out_bias = (compiled.projected_filter(u, d, s, compiled.trace_grid(chip, s), draw)
                                         for (u, d, s), draw in zip(channels, draws))
    return SequenceFactors(inp, rec, bias, fw.psi, torch.empty(0), torch.empty(0), out, out_bias, fw.z.sum(0))


def eprop_traces(fw: Forward, ctx: RuleContext) -> SequenceFactors:
    """The per-neuron traces of e-prop along the sequence (the same recursions as the online form)."""
    if _compiled(ctx):
        return compiled_traces(fw, ctx)
    c = ctx.consts
    tr, inner = zero_traces(ctx.batch, ctx.n_in, ctx.n_rec, ctx.dtype, ctx.device), zero_inner(
        c, ctx.batch, ctx.n_in, ctx.n_rec, ctx.dtype, ctx.device)
    hist = []
    for t in range(fw.x.shape[0]):
        inner, u_in, u_rec, u_b = inner_trace_step(inner, c, fw.x[t], fw.z_prev[t])
        tr = pre_trace_step(tr, c, u_in, u_rec, fw.z[t], u_b)
        if ctx.project is not None:
            tr = ctx.project(tr)
        hist.append(tr)
    inp, rec, bias, out, out_bias = (torch.stack(h) for h in zip(*hist))
    empty = torch.empty(0)
    return SequenceFactors(inp, rec, bias, fw.psi, empty, empty, out, out_bias, fw.z.sum(0))


def eprop_factored(rule: EProp, fw: Forward, delta: torch.Tensor, learning: torch.Tensor, ctx: RuleContext,
                   params) -> tuple[dict[Target, torch.Tensor], dict[str, torch.Tensor]]:
    """Gradients and the observed per-step state (batch element 0 taken by the caller) of factored e-prop."""
    f = eprop_traces(fw, ctx)._replace(learning=learning, delta=delta)
    grads = factored_gradients(f, ctx.consts, rule.regularization, ctx.dt, rule.targets, _scan(ctx))
    observed = {"pre_trace_in": f.pre_in, "pre_trace_rec": f.pre_rec, "post_term": f.psi,
                "learning_signal": learning, "output_error": delta}
    return grads, observed


def rflo_factored(rule: RFLO, fw: Forward, delta: torch.Tensor, learning: torch.Tensor, ctx: RuleContext,
                  params) -> tuple[dict[Target, torch.Tensor], dict[str, torch.Tensor]]:
    r"""Exact end-of-sequence RFLO (module docstring of :mod:`neuromorph.plasticity.rflo`).

    The hidden factors are the *raw* presynaptic activity :math:`x_t`, :math:`z_{t-1}` and 1 (not
    e-prop's traces); the decay :math:`d^t` is fixed or the Jacobian's diagonal from :math:`\psi^{t-1}`.
    """
    c = ctx.consts
    traces = eprop_traces(fw, ctx)
    decay = fixed_decay(rule, c, ctx.n_rec, ctx.dtype, ctx.device)
    if decay is None:
        psi_prev = torch.cat([torch.zeros_like(fw.psi[:1]), fw.psi[:-1]])
        decay = jacobian_decay(c, params.w_rec, psi_prev)
    decay = decay.expand_as(fw.psi)
    raw = traces._replace(pre_in=fw.x, pre_rec=fw.z_prev, pre_bias=torch.ones_like(traces.pre_bias),
                          learning=learning, delta=delta)
    post = None
    if rule.targets & {Target.W_IN, Target.W_REC, Target.BIAS}:
        scan = _scan(ctx)
        q = post_coefficient(raw, c._replace(beta=None, rho=None), rule.regularization, ctx.dt, scan)
        d_next = torch.cat([decay[1:], torch.zeros_like(decay[:1])])
        post = c.s_in * scan(q, d_next)
    observed = {"post_term": fw.psi, "learning_signal": learning, "output_error": delta, "trace_decay": decay}
    return outer_products(post, raw, rule.targets), observed


FactoredForm = Callable[..., tuple[dict[Target, torch.Tensor], dict[str, torch.Tensor]]]

#: The factored (end-of-sequence, matrix-product) form of each rule type that has one.
FACTORED: dict[type, FactoredForm] = {EProp: eprop_factored, RFLO: rflo_factored}
