r"""Spike nonlinearity and its pseudo-derivative.

The forward pass is the Heaviside step :math:`z = H(v - A)`; the backward pass
uses the piecewise-linear pseudo-derivative of Bellec et al. (2020), Methods,
eq. (7) of the LIF section:

.. math::

    \psi = \frac{\gamma}{v_\mathrm{th}}
           \max\left(0,\; 1 - \frac{|v - A|}{\delta\, v_\mathrm{th}}\right)

with height :math:`\gamma` (0.3 in the paper) and width :math:`\delta` (1 in the
paper, in units of :math:`v_\mathrm{th}`). We pin this surrogate ourselves rather
than use norse's ``method="super"``, whose width changed between norse 1.1.0 and
``main`` (norse 1.1.0 against its main branch), so results survive a norse upgrade.

References
----------
Bellec et al., "A solution to the learning dilemma for recurrent networks of
spiking neurons", Nat. Commun. 11:3625 (2020).
"""

from __future__ import annotations

import torch


def pseudo_derivative(
    v: torch.Tensor, threshold: torch.Tensor | float, v_th: float, height: float, width: float
) -> torch.Tensor:
    r""":math:`\psi = (\gamma / v_\mathrm{th}) \max(0, 1 - |v - A| / (\delta v_\mathrm{th}))`."""
    return (height / v_th) * torch.clamp(1.0 - torch.abs(v - threshold) / (width * v_th), min=0.0)


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, :func:`pseudo_derivative` backward (w.r.t. v and A)."""

    @staticmethod
    def forward(ctx, v, threshold, v_th, height, width):
        ctx.save_for_backward(v, threshold)
        ctx.constants = (v_th, height, width)
        return (v > threshold).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_z):
        v, threshold = ctx.saved_tensors
        psi = pseudo_derivative(v, threshold, *ctx.constants)
        grad_v = grad_z * psi
        grad_threshold = -grad_v if ctx.needs_input_grad[1] else None
        return grad_v, grad_threshold, None, None, None


def spike(
    v: torch.Tensor, threshold: torch.Tensor, v_th: float, height: float, width: float
) -> torch.Tensor:
    r""":math:`z = H(v - A)`, differentiable through :func:`pseudo_derivative`.

    Outside autograd (``torch.no_grad`` or no input requiring grad) this is a
    plain comparison, so the forward-only and e-prop paths pay no autograd cost.
    """
    if torch.is_grad_enabled() and (v.requires_grad or threshold.requires_grad):
        return _SpikeFunction.apply(v, threshold, v_th, height, width)
    return (v > threshold).to(v.dtype)
