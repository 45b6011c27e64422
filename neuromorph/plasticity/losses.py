r"""Losses, output errors and the firing-rate regulariser.

Loss over a batch of B trials (time-major), with mask :math:`m_t`:

.. math::

    E = \frac{1}{B} \sum_{b,t} m_{t,b}\, \ell(y_{t,b}, y^*_{t,b}), \qquad
    \ell = \tfrac12 \|y - y^*\|^2 \ \text{(regression)}, \quad
    \ell = -\log \mathrm{softmax}(y)_{y^*} \ \text{(classification)}

The output error :math:`\delta_t = \partial E/\partial y_t` (partial, per step) is
:math:`m_t (y_t - y^*_t)/B` or :math:`m_t(\pi_t - \mathrm{onehot}(y^*_t))/B`.
Firing-rate regulariser (Bellec et al. 2020, Methods):
:math:`E_\mathrm{reg} = \frac{c}{2}\sum_j (\bar f_j - f_0\Delta t)^2` with
:math:`\bar f_j` the mean spike count per step over batch and window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuromorph.errors import ConfigError
from neuromorph.types import LossKind


def output_error(kind: LossKind, y: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:math:`\\delta = \\partial E/\\partial y`, same shape as ``y`` (works per step or per sequence)."""
    batch = y.shape[-2]
    if kind is LossKind.REGRESSION:
        diff = y - target
    else:
        diff = torch.softmax(y, dim=-1) - torch.nn.functional.one_hot(target, y.shape[-1]).to(y.dtype)
    return diff * (mask.unsqueeze(-1) / batch)


def loss_value(kind: LossKind, y: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:math:`E` (differentiable), for sequences ``y`` of shape (T, B, n_out)."""
    batch = y.shape[-2]
    if kind is LossKind.REGRESSION:
        per_step = 0.5 * ((y - target) ** 2).sum(-1)
    else:
        per_step = torch.nn.functional.cross_entropy(y.flatten(0, -2), target.flatten(), reduction="none")
        per_step = per_step.view(target.shape)
    return (per_step * mask).sum() / batch


def accuracy(mean_output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of trials whose masked-mean output (B, n_out) picks the class at the first masked step."""
    decision = mean_output.argmax(-1)
    label = target[mask.argmax(0), torch.arange(target.shape[1], device=target.device)]
    return float((decision == label).to(torch.float64).mean())


@dataclass(frozen=True)
class RateRegularization:
    """Firing-rate regulariser: ``strength`` c and ``target_hz`` :math:`f_0`."""

    strength: float = 0.0
    target_hz: float = 10.0

    def __post_init__(self) -> None:
        if self.strength < 0 or self.target_hz < 0:
            raise ConfigError(f"rate regularisation needs strength >= 0 and target_hz >= 0, got {self}")

    def coefficient(self, spike_count: torch.Tensor, n_samples: int, dt: float) -> torch.Tensor:
        r"""Per-neuron factor :math:`r_j = c(\bar f_j - f_0 \Delta t)/n`, ``n`` = batch × steps.

        The e-prop gradient of :math:`E_\mathrm{reg}` is :math:`\sum_{b,t} r_j e_{ji}`.
        """
        mean_rate = spike_count / n_samples
        return self.strength * (mean_rate - self.target_hz * dt) / n_samples

    def value(self, z: torch.Tensor, dt: float) -> torch.Tensor:
        """:math:`E_\\mathrm{reg}` for spikes ``z`` of shape (T, B, n) (differentiable)."""
        mean_rate = z.mean(dim=(0, 1))
        return 0.5 * self.strength * ((mean_rate - self.target_hz * dt) ** 2).sum()
