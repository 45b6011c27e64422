r"""Losses, output errors and the firing-rate regulariser.

Loss over a batch of B trials (time-major), with mask :math:`m_t`:

.. math::

    E = \frac{1}{B} \sum_{b,t} m_{t,b}\, \ell(y_{t,b}, y^*_{t,b}), \qquad
    \ell = \tfrac12 \|y - y^*\|^2 \ \text{(regression)}, \quad
    \ell = -\log \mathrm{softmax}(y)_{y^*} \ \text{(classification)}

The output error :math:`\delta_t = \partial E/\partial y_t` (partial, per step) is
:math:`m_t (y_t - y^*_t)/B` or :math:`m_t(\pi_t - \mathrm{onehot}(y^*_t))/B`.
Firing-rate regulariser (:class:`RateRegularization`), over a window of :math:`T` steps (the sequence, or an
online update interval) and :math:`B` sequences with spike counts :math:`n_{b,j}`, in one of two forms:

* ``rate = "batch"`` (Bellec et al. 2020, Methods): the batch's mean rate
  :math:`\bar f_j = \sum_b n_{b,j}/(BT)`, :math:`E_\mathrm{reg} = \frac{c}{2}\sum_j (\bar f_j - f_0\Delta t)^2`;
* ``rate = "sequence"`` (NEST 3.10's e-prop models): each sequence's own rate :math:`f_{b,j} = n_{b,j}/T`,
  :math:`E_\mathrm{reg} = \frac{1}{B}\sum_b \frac{c}{2}\sum_j (f_{b,j} - f_0\Delta t)^2`.

For :math:`B = 1` the two are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

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


#: The rate a :class:`RateRegularization` regularises: the batch's mean rate, or each sequence's own rate.
RateKind = Literal["batch", "sequence"]


@dataclass(frozen=True)
class RateRegularization:
    r"""Firing-rate regulariser: ``strength`` c, ``target_hz`` :math:`f_0` and which ``rate`` it regularises.

    The e-prop gradient of :math:`E_\mathrm{reg}` (module docstring) is :math:`\sum_{b,t} r_{b,j} e^t_{ji,b}`, with
    :math:`r_{b,j} = \partial E_\mathrm{reg}/\partial z^t_{b,j}` the same at every step of the window
    (:meth:`coefficient`): :math:`r_j = c(\bar f_j - f_0\Delta t)/(BT)` for every sequence (``"batch"``,
    Bellec et al. 2020, Methods) or :math:`r_{b,j} = c(f_{b,j} - f_0\Delta t)/(BT)` per sequence (``"sequence"``;
    NEST 3.10 ``eprop_archiving_node_recurrent::write_firing_rate_reg_to_history``:
    :math:`c_\mathrm{reg}(n_\mathrm{spikes}/U - f_\mathrm{target}\Delta t)/U` per update interval of U steps,
    the gradients then averaged over the batch).
    """

    strength: float = 0.0
    target_hz: float = 10.0
    rate: RateKind = "batch"

    def __post_init__(self) -> None:
        if self.strength < 0 or self.target_hz < 0:
            raise ConfigError(f"rate regularisation needs strength >= 0 and target_hz >= 0, got {self}")
        if self.rate not in get_args(RateKind):
            raise ConfigError(f"rule.regularization.rate must be one of {list(get_args(RateKind))}, got {self.rate!r}")

    @property
    def per_sequence(self) -> bool:
        """Whether :meth:`coefficient` differs between the sequences of a batch (``rate = "sequence"``)."""
        return self.rate == "sequence"

    def coefficient(self, spike_count: torch.Tensor, n_steps: int, dt: float) -> torch.Tensor:
        r"""The factor :math:`r` (class docstring) from the window's spike counts ``spike_count`` (B, n) over
        ``n_steps`` = T steps: (n,) for ``"batch"``, (B, n) for ``"sequence"``; either broadcasts against (..., B, n).
        """
        batch = spike_count.shape[0]
        rate = spike_count / n_steps if self.per_sequence else spike_count.sum(0) / (batch * n_steps)
        return self.strength * (rate - self.target_hz * dt) / (batch * n_steps)

    def value(self, z: torch.Tensor, dt: float) -> torch.Tensor:
        """:math:`E_\\mathrm{reg}` for spikes ``z`` of shape (T, B, n) (differentiable)."""
        if self.per_sequence:
            rate = z.mean(dim=0)
            return 0.5 * self.strength * ((rate - self.target_hz * dt) ** 2).sum() / z.shape[1]
        mean_rate = z.mean(dim=(0, 1))
        return 0.5 * self.strength * ((mean_rate - self.target_hz * dt) ** 2).sum()
