r"""Gradient flossing: push the first k Lyapunov exponents to 0 (Zhang, Liu & Liu, docs/gain.md).

.. math::

    L_\mathrm{floss} = \frac1k \sum_{i \le k} (\lambda_i - \lambda_\mathrm{target})^2,
    \qquad \lambda_\mathrm{target} = 0,

with :math:`\lambda_i` from the differentiable QR iteration of :mod:`.lyapunov`. *Local*
pre-flossing (seed 003) runs Adam on this loss for 100 iterations before training with
gradients only through the explicit :math:`W^\mathrm{rec}` in
:math:`J_t = \alpha I + (1-\alpha) W^\mathrm{rec}\mathrm{diag}\,\phi'(u_{t-1})`: the trajectory
is detached, the same locality as the ``hidden.detach()`` e-prop. For ReLU units this *is*
the full gradient with respect to :math:`W^\mathrm{rec}` (:math:`\phi'` is piecewise constant,
so the trajectory enters :math:`J_t` only through a step function), and the input weights and
biases receive none; for tanh the two differ (tests/gain/test_lyapunov.py).

References
----------
R. Engelken, "Gradient Flossing: Improving Gradient Descent through Dynamic Control of
Jacobians", NeurIPS 2023 (code RainerEngelken/GradientFlossing); Zhang, Liu & Liu (seed 003).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuromorph.analysis.lyapunov import spectrum_of_run
from neuromorph.errors import ConfigError
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.types import TrialBatch

__all__ = ["FlossingSpec", "flossing_loss", "preflossing"]


@dataclass(frozen=True)
class FlossingSpec:
    """Pre-flossing: ``iterations`` Adam steps at ``lr`` on the first ``k`` exponents (default all N).

    ``warmup`` steps of each trajectory are discarded; ``local`` restricts gradients to the
    explicit :math:`W^\\mathrm{rec}`; ``batch_size`` trajectories per iteration.
    """

    iterations: int = 100
    lr: float = 1e-3
    k: int | None = None
    warmup: int = 5
    batch_size: int = 32
    local: bool = True
    target: float = 0.0

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.batch_size < 1 or self.warmup < 0 or not self.lr > 0:
            raise ConfigError(f"flossing needs iterations >= 0, batch_size >= 1, warmup >= 0 and lr > 0, got {self}")
        if self.k is not None and self.k < 1:
            raise ConfigError(f"flossing.k must be >= 1, got {self.k}")


def flossing_loss(
    spec: NetworkSpec, params: Parameters, inputs: torch.Tensor, floss: FlossingSpec,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_floss, spectrum)`` on the trajectories driven by ``inputs`` (differentiable in ``params``)."""
    lam = spectrum_of_run(spec, params, inputs, k=floss.k, warmup=floss.warmup, generator=generator,
                          local=floss.local)
    return ((lam - floss.target) ** 2).mean(), lam


def preflossing(
    spec: NetworkSpec, params: Parameters, sample, floss: FlossingSpec, generator: torch.Generator,
) -> tuple[Parameters, list[float]]:
    """Run ``floss.iterations`` Adam steps of :func:`flossing_loss` on ``w_rec`` (and, non-locally, w_in, bias).

    ``sample(batch_size, generator) -> TrialBatch`` supplies the input trajectories (a task's
    :meth:`sample`). Returns the new parameters (others unchanged) and the loss per iteration.
    """
    names = ("w_rec",) if floss.local else ("w_rec", "w_in", "bias")
    leaves = {n: getattr(params, n).detach().clone().requires_grad_(True) for n in names}
    optimizer = torch.optim.Adam(list(leaves.values()), lr=floss.lr)
    history: list[float] = []
    for _ in range(floss.iterations):
        batch: TrialBatch = sample(floss.batch_size, generator)
        current = params._replace(**leaves)
        loss, _ = flossing_loss(spec, current, batch.inputs.to(params.w_rec.dtype), floss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    if not spec.self_connections:
        with torch.no_grad():
            leaves["w_rec"].fill_diagonal_(0.0)
    return params._replace(**{n: v.detach() for n, v in leaves.items()}), history
