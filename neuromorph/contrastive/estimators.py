r"""What the temporally local rule estimates (Williams, Bredenberg & Lajoie 2023, docs/contrastive.md;
`tests/contrastive/test_estimator.py`, `test_ep.py`).

* :func:`iid_estimate` — states sampled exactly from the phase's distribution, i.i.d. phases: the
  mean of :math:`s_t g_t` is an unbiased estimate of :math:`\frac12(\mathbb E_+[g] - \mathbb E_-[g])`
  (check 19). Returns the mean and its per-coordinate standard error.
* :func:`ep_estimate` — EP's two-phase estimate :math:`(1/\beta)[\partial E/\partial\theta(s_\beta) -
  \partial E/\partial\theta(s_0)]` from relaxed fixed points (Scellier & Bengio 2017, Theorem 1).
* :func:`true_gradient` — :math:`\nabla_\theta C(s_0(\theta))` by automatic differentiation through the
  free relaxation (the relaxation is a contraction, so this converges to the implicit-function
  gradient as the number of steps grows).
* :func:`local_drift` — the temporally local rule's mean update :math:`\mathbb E[s_t g_t]/\beta`
  (times 2, so that it is comparable with the two-phase estimate) with frozen parameters
  (η → 0, assumption (iii)), measured along random phase sequences. Each sequence is paired with
  its mirror image (+ and − swapped: the same law for symmetric phases), an antithetic pair whose
  phase occupancies add up exactly, so the estimate has no occupancy noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from neuromorph.contrastive import models
from neuromorph.contrastive.phases import Telegraph, importance_weights
from neuromorph.errors import ConfigError

Sampler = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def iid_estimate(sample_plus: Sampler, sample_minus: Sampler, p: float, n: int, gen: np.random.Generator,
                 *, weighted: bool = True, chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of :math:`s_t g_t` over ``n`` steps with P(+) = ``p``.

    ``sample_plus(k, gen)`` returns ``k`` exact draws of g from the positive phase, shape (k, d);
    ``weighted=False`` uses s = ±1 instead of the importance weights (a biased control when p ≠ 1/2).
    """
    s_plus, s_minus = importance_weights(p) if weighted else (1.0, -1.0)
    total = total_sq = 0.0
    done = 0
    while done < n:
        k = min(chunk, n - done)
        plus = gen.random(k) < p
        g_plus, g_minus = sample_plus(np.flatnonzero(plus), gen), sample_minus(np.flatnonzero(~plus), gen)
        g = np.empty((k, max(g_plus.shape[1], g_minus.shape[1])))
        g[plus], g[~plus] = g_plus, g_minus
        sg = np.where(plus, s_plus, s_minus)[:, None] * g
        total, total_sq = total + sg.sum(0), total_sq + (sg ** 2).sum(0)
        done += k
    mean = total / n
    return mean, np.sqrt(np.maximum(total_sq / n - mean ** 2, 0.0) / n)


def _flat(d: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([d[k].flatten() for k in models.PARAMS])


def ep_estimate(net: models.NetSpec, p: dict, x: torch.Tensor, y: torch.Tensor, n_relax: int) -> torch.Tensor:
    r""":math:`(1/\beta)[\partial E/\partial\theta(s_\beta) - \partial E/\partial\theta(s_0)] = -(1/\beta)[g_\beta - g_0]`, flat."""
    if net.model != "ep":
        raise ConfigError('the EP gradient estimate needs the EP variant: [network.neuron] model = "energy_rate" '
                          'and [rule] teaching = "nudge"')
    free = models.relax(net, p, x, y, False, n_relax)
    nudged = models.relax(net, p, x, y, True, n_relax, free)
    return -(_flat(models.hebbian(net, x, nudged)) - _flat(models.hebbian(net, x, free))) / net.beta


def true_gradient(net: models.NetSpec, p: dict, x: torch.Tensor, y: torch.Tensor, n_relax: int) -> torch.Tensor:
    r""":math:`\nabla_\theta \langle C(s_0(\theta))\rangle_\text{batch}` through ``n_relax`` free steps, flat."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}
    with torch.enable_grad():
        state = models.relax(net, leaves, x, y, False, n_relax)
        c = models.cost(state, y).mean()
        grads = torch.autograd.grad(c, [leaves[k] for k in models.PARAMS])
    return torch.cat([g.flatten() for g in grads])


@torch.no_grad()
def local_drift(net: models.NetSpec, p: dict, x: torch.Tensor, y: torch.Tensor, process: Telegraph, runs: int,
                n_steps: int, gen: np.random.Generator, burn_in: int = 0) -> torch.Tensor:
    r"""Twice the mean of :math:`s_t g_t / \beta` over ``runs`` antithetic pairs of phase sequences, flat."""
    if process.mean_plus != process.mean_minus:
        raise ConfigError("local_drift's antithetic pairs need symmetric phases (mean_plus = mean_minus)")
    s_plus, s_minus = importance_weights(process.p_plus)
    phases = process.sample_many(runs, burn_in + n_steps, gen)
    phases = np.concatenate([phases, ~phases])  # (2 runs, T): the mirror images
    b = x.shape[0]
    xs, ys = x.repeat(2 * runs, 1), y.repeat(2 * runs, 1)  # row r * b + i: run r, example i
    state = models.initial_state(net, 2 * runs * b, x.dtype)
    total = None
    for t in range(burn_in + n_steps):
        plus = torch.as_tensor(np.repeat(phases[:, t], b))
        nudged = models.step(net, p, state, xs, ys, True)
        free = models.step(net, p, state, xs, ys, False)
        state = models.RateState(*(torch.where(plus[:, None], a, c) for a, c in zip(nudged, free)))
        if t < burn_in:
            continue
        signal = torch.where(plus, s_plus, s_minus).to(x.dtype)[:, None]
        rh, ry = models.rates(net, state)
        g = torch.cat([((signal * rh).T @ xs).flatten(), ((signal * ry).T @ rh).flatten(),
                       (signal * rh).sum(0), (signal * ry).sum(0)])
        total = g if total is None else total + g
    return -2.0 * total / (2 * runs * b * n_steps) / net.beta
