r"""Exact end-of-sequence e-prop from per-neuron factors (the fast path).

Exchanging the order of the sums over the κ-filter turns the per-synapse
eligibility into a per-neuron coefficient (THEORY.md §5.1):

.. math::

    \sum_t L^t_j \bar e^t_{ji} + r_j \sum_t e^t_{ji}
      = \sum_t c^t_j\, e^t_{ji}, \qquad
    c^t_j = s_\mathrm{out} G^t_j + r_j, \quad G^t = L^t + \kappa G^{t+1}

For LIF, :math:`e^t_{ji} = \psi^t_j P^t_i`, so the update is one matrix product
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

from typing import NamedTuple

import torch

from neuromorph.plasticity.base import HIDDEN_TARGETS, PER_NEURON, Target
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.plasticity.traces import TraceConstants, reverse_scan


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
    spike_count: torch.Tensor  #: (n_rec,) spikes summed over batch and time


def post_coefficient(
    f: SequenceFactors, c: TraceConstants, reg: RateRegularization, dt: float
) -> torch.Tensor:
    r"""The per-neuron factor multiplying :math:`P^t_i`: :math:`\psi^t(c^t - \mu^{t+1})`."""
    coeff = c.s_out * reverse_scan(f.learning, c.kappa)
    if reg.strength > 0:
        n_samples = f.psi.shape[0] * f.psi.shape[1]
        coeff = coeff + reg.coefficient(f.spike_count, n_samples, dt)
    post = f.psi * coeff
    if c.adaptive:
        mu = reverse_scan(c.beta * post, c.rho - c.beta * f.psi)
        post = post - f.psi * torch.cat([mu[1:], torch.zeros_like(mu[:1])])
    return post


def factored_gradients(
    f: SequenceFactors, c: TraceConstants, reg: RateRegularization, dt: float, targets: frozenset[Target]
) -> dict[Target, torch.Tensor]:
    """Gradients (to be *subtracted*, scaled by the learning rate) for each target."""
    post = post_coefficient(f, c, reg, dt) if targets & set(HIDDEN_TARGETS) else None
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
