r"""Lyapunov spectra of leaky rate RNNs by the QR method (Zhang, Liu & Liu, docs/gain.md).

For the rate unit of :mod:`neuromorph.dynamics.rate`,
:math:`u_t = (1-a)u_{t-1} + a(W^\mathrm{rec}\phi(u_{t-1}) + W^\mathrm{in}x_t + b)`, the Jacobian
along an input-driven trajectory is

.. math::

    J_t = \frac{\partial u_t}{\partial u_{t-1}} = \alpha I + (1-\alpha)\, W^\mathrm{rec}\,
    \mathrm{diag}\,\phi'(u_{t-1}), \qquad \alpha = 1 - a,

the seed-003 :math:`J_t = \alpha I + (1-\alpha) W_h \mathrm{diag}(f'(h_t))`. The QR iteration
:math:`Q_t R_t = J_t Q_{t-1}` (sign-fixed so that :math:`\mathrm{diag}\,R_t > 0`) accumulates
:math:`\gamma \mathrel{+}= \log \mathrm{diag}\,R_t` after a warm-up, and
:math:`\lambda_i = \gamma_i / (T - t_\mathrm{warmup})` per step (divide by ``dt`` for per-second
exponents), averaged over the batch of trajectories. Everything is torch and differentiable
(``torch.linalg.qr``), which gradient flossing (:mod:`.flossing`) relies on.

References
----------
R. Vogt, M. Puelma Touzel, E. Shlizerman, G. Lajoie, "On Lyapunov exponents for RNNs:
Understanding information propagation using dynamical systems tools", Front. Appl. Math. Stat.
8:818799 (2022); R. Engelken, "Gradient Flossing", NeurIPS 2023 (code
RainerEngelken/GradientFlossing).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from neuromorph.dynamics import RateParameters
from neuromorph.dynamics.rate import rate_initial_state, rate_step
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.network import NetworkSpec, Parameters

__all__ = ["lyapunov_spectrum", "rate_jacobians", "rate_preactivations", "spectrum_of_run"]


def _rate_spec(spec: NetworkSpec) -> RateParameters:
    if not isinstance(spec.neuron, RateParameters):
        raise ConfigError("Lyapunov spectra are implemented for rate units (network.neuron.model = 'rate')")
    return spec.neuron


def rate_preactivations(spec: NetworkSpec, params: Parameters, inputs: torch.Tensor) -> torch.Tensor:
    r"""Pre-activations :math:`u_0 = 0, u_1, \dots, u_T` (T+1, B, N) of the rate network driven by ``inputs``.

    Uses the package's :func:`~neuromorph.dynamics.rate.rate_step`, so it is the trajectory the
    backends simulate. Differentiable in ``params``; detach the result for local flossing.
    """
    neuron = _rate_spec(spec)
    if inputs.dim() != 3 or inputs.shape[2] != spec.n_in:
        raise ShapeError(f"inputs have shape {tuple(inputs.shape)}, expected (T, B, {spec.n_in})")
    state = rate_initial_state(inputs.shape[1], spec.n_rec, params.w_rec.dtype)
    us = [state.v]
    for x_t in inputs.to(params.w_rec.dtype):
        drive = x_t @ params.w_in.T + state.z @ params.w_rec.T + params.bias
        _, _, state = rate_step(neuron, state, drive, spec.dt)
        us.append(state.v)
    return torch.stack(us)


def rate_jacobians(spec: NetworkSpec, w_rec: torch.Tensor, u_prev: torch.Tensor) -> torch.Tensor:
    r"""Jacobians :math:`J_t = \alpha I + (1-\alpha) W^\mathrm{rec} \mathrm{diag}\,\phi'(u_{t-1})`.

    ``u_prev`` has shape (..., N); the result (..., N, N).

    For ReLU :math:`\phi'` is a step function (no gradient), so the only gradient path into
    :math:`J_t` is the explicit ``w_rec``; for tanh an attached ``u_prev`` adds the
    :math:`\phi''` terms (detach it for the local, e-prop-like gradient).
    """
    neuron = _rate_spec(spec)
    a = neuron.leak(spec.dt)
    if neuron.activation.value == "relu":
        dphi = (u_prev.detach() > 0).to(w_rec.dtype)
    elif neuron.activation.value == "tanh":
        dphi = 1.0 - torch.tanh(u_prev) ** 2
    else:
        dphi = torch.ones_like(u_prev)
    eye = torch.eye(spec.n_rec, dtype=w_rec.dtype)
    return (1.0 - a) * eye + a * w_rec * dphi.unsqueeze(-2)


def lyapunov_spectrum(
    jacobians: Iterable[torch.Tensor] | torch.Tensor,
    k: int | None = None,
    warmup: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The first ``k`` Lyapunov exponents (per step, descending) of the product of ``jacobians``.

    Parameters
    ----------
    jacobians : iterable of Tensor (B, N, N) or (N, N), or a stacked (T, [B,] N, N) tensor
        :math:`J_1, \dots, J_T` in time order.
    k : int, optional
        Number of exponents (default N), ``1 <= k <= N``.
    warmup : int
        Steps whose growth rates are discarded while :math:`Q` aligns with the dynamics.
    generator : torch.Generator, optional
        Draws the random orthonormal :math:`Q_0` (default: a fixed seed 0).

    Returns
    -------
    Tensor (k,)
        :math:`\lambda_i`, averaged over the batch. Differentiable through the QR decompositions.
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    q, gamma, counted = None, None, 0
    for t, jac in enumerate(jacobians):
        if q is None:
            n = jac.shape[-1]
            k = n if k is None else k
            if not 1 <= k <= n:
                raise ConfigError(f"k = {k} Lyapunov exponents requested, need 1 <= k <= N = {n}")
            start = torch.randn(n, k, generator=generator, dtype=torch.float64).to(jac.dtype)
            q = torch.linalg.qr(start).Q.expand(*jac.shape[:-2], n, k)
        q, r = torch.linalg.qr(jac @ q)
        diag = torch.diagonal(r, dim1=-2, dim2=-1)
        sign = torch.where(diag < 0, -1.0, 1.0).to(diag.dtype)
        q = q * sign.unsqueeze(-2)
        if t >= warmup:
            growth = torch.log(diag.abs())
            gamma = growth if gamma is None else gamma + growth
            counted += 1
    if q is None or counted == 0:
        raise ConfigError(f"need more than warmup = {warmup} Jacobians to estimate Lyapunov exponents")
    lam = gamma / counted
    return lam.reshape(-1, lam.shape[-1]).mean(0)


def spectrum_of_run(
    spec: NetworkSpec,
    params: Parameters,
    inputs: torch.Tensor,
    k: int | None = None,
    warmup: int = 0,
    generator: torch.Generator | None = None,
    local: bool = True,
) -> torch.Tensor:
    r"""Lyapunov spectrum along the trajectory driven by ``inputs`` (T, B, n_in).

    The Jacobian :math:`J_t` uses :math:`u_{t-1}`, t = 1..T. With ``local`` the trajectory is
    detached, so gradients reach only the explicit :math:`W^\mathrm{rec}` in :math:`J_t`
    (the e-prop locality of seed 003's local flossing, Zhang, Liu & Liu, docs/gain.md).
    """
    u = rate_preactivations(spec, params, inputs)
    if local:
        u = u.detach()
    return lyapunov_spectrum((rate_jacobians(spec, params.w_rec, u[t]) for t in range(inputs.shape[0])),
                             k=k, warmup=warmup, generator=generator)
