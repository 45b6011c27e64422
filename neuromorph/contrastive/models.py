r"""Contrastive-learning networks: a layered Hopfield energy with leaky rate dynamics (EP, CHL) and a
spiking variant.

Units: inputs :math:`x` (clamped), hidden :math:`h`, outputs :math:`y`; rates :math:`\rho(u) =
\sigma(4u - 2)` (a smooth hard sigmoid: range (0, 1), slope 1 at u = 1/2). The energy
(Scellier & Bengio 2017, eq. 1, one hidden layer, symmetric h–y coupling) and the cost are

.. math::

    E = \tfrac12\|h\|^2 + \tfrac12\|y\|^2 - \rho(h)^\top W_1 x - \rho(y)^\top W_2 \rho(h)
        - b_1^\top \rho(h) - b_2^\top \rho(y), \qquad
    C = \tfrac12 \|\rho(y) - t\|^2 .

Leaky rate dynamics descend :math:`F = E + \beta C` with time constant τ (Euler, step dt):
:math:`u \leftarrow u - (\Delta t/\tau)\,\partial F/\partial u`. The *free* phase has β = 0; the
*nudged* phase β > 0 (EP) or, for contrastive Hebbian learning (Movellan 1991), the outputs are
*clamped* to :math:`\rho(y) = t_c` (targets squeezed into [c, 1 - c]).

The local contrastive term is the Hebbian :math:`g = -\partial E/\partial\theta`:
:math:`g_{W_1} = \rho(h) x^\top`, :math:`g_{W_2} = \rho(y)\rho(h)^\top`, :math:`g_{b} = \rho(\cdot)`
(batch mean). EP's update is :math:`\Delta\theta = (\eta/\beta)[g(s_\beta) - g(s_0)]`, which tends to
:math:`-\eta\nabla_\theta C(s_0)` as β → 0 (Scellier & Bengio 2017, Theorem 1); CHL's is
:math:`\eta[g(\text{clamped}) - g(\text{free})]`.

**Spiking variant.** The same units as LIF neurons (:func:`neuromorph.dynamics.lif.lif_step`) whose
synaptic drive is the rate network's force, :math:`I = W_1 x + W_2^\top \bar r_y + b_1` (hidden) and
:math:`W_2 \bar r_h + b_2 + \beta(t - \bar r_y)` (outputs, nudged phase), where :math:`\bar r` is the
spike train low-passed with time constant ``tau_rate``. The phase contrast is read from the filtered
rates: :math:`g = \bar r \bar r^\top`.

Training runs through the engine (:mod:`.layout`, :mod:`.train`): the units are the neuron families of
:mod:`neuromorph.dynamics.energy` and the rules those of :mod:`neuromorph.plasticity.contrastive`. This
module keeps the two-layer view the theory is written in (the energy, the cost, the relaxation of one
phase), which the estimators of :mod:`.estimators` and the tests read; ``tests/contrastive/test_models.py``
checks its step against the engine's network step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from neuromorph.dynamics.energy import rho, rho_inverse, rho_prime
from neuromorph.dynamics.lif import LIFParameters, LIFState, lif_initial_state, lif_step
from neuromorph.errors import ConfigError

PARAMS = ("w1", "w2", "b1", "b2")
MODELS = ("ep", "chl", "spiking")


@dataclass(frozen=True)
class NetSpec:
    """Sizes and dynamics of one contrastive network (see the module docstring)."""

    n_in: int
    n_hidden: int
    n_out: int
    model: str = "ep"
    beta: float = 0.5  #: nudging strength (EP, spiking); unused by CHL
    dt: float = 0.5  #: Euler step in units of tau (rate models) or seconds (spiking)
    tau: float = 1.0  #: relaxation time constant of the rate units
    clamp_margin: float = 0.05  #: CHL clamps outputs to rates in [margin, 1 - margin]
    tau_rate: float = 20e-3  #: spiking: rate filter time constant (s)
    lif: LIFParameters = field(default_factory=lambda: LIFParameters(tau_mem=10e-3, v_th=0.5, input_scaling=True))
    rate_scale: float = 1.0  #: spiking: filtered rate (spikes/step) -> model rate

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"NetSpec.model must be one of {MODELS}, got {self.model!r}")
        for name in ("n_in", "n_hidden", "n_out"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"network.{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("beta", "dt", "tau", "tau_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"network.{name} must be > 0, got {getattr(self, name)!r}")
        if self.model != "spiking" and self.dt / self.tau > 1:
            raise ConfigError(f"network.dt / network.tau = {self.dt / self.tau:g} > 1 makes the Euler relaxation "
                              "unstable; lower network.dt")

    @property
    def scale(self) -> float:
        """Factor in front of the contrast: 1/β for EP (the nudge is infinitesimal), 1 otherwise."""
        return 1.0 / self.beta if self.model == "ep" else 1.0


class RateState(NamedTuple):
    h: torch.Tensor
    y: torch.Tensor


class SpikeState(NamedTuple):
    hidden: LIFState
    out: LIFState
    r_h: torch.Tensor  #: filtered hidden rate
    r_y: torch.Tensor  #: filtered output rate


def init_params(net: NetSpec, gen: torch.Generator, scale: float = 1.0,
                dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Uniform Glorot-like weights :math:`U(-a, a)`, :math:`a = \\text{scale}\\sqrt{6/(n_{in}+n_{out})}`; zero biases."""
    def uniform(rows: int, cols: int) -> torch.Tensor:
        a = scale * (6.0 / (rows + cols)) ** 0.5
        return (2 * torch.rand(rows, cols, generator=gen, dtype=dtype) - 1) * a

    return {"w1": uniform(net.n_hidden, net.n_in), "w2": uniform(net.n_out, net.n_hidden),
            "b1": torch.zeros(net.n_hidden, dtype=dtype), "b2": torch.zeros(net.n_out, dtype=dtype)}


def initial_state(net: NetSpec, batch: int, dtype: torch.dtype = torch.float32) -> RateState | SpikeState:
    if net.model == "spiking":
        zeros = torch.zeros
        return SpikeState(lif_initial_state(batch, net.n_hidden, dtype), lif_initial_state(batch, net.n_out, dtype),
                          zeros(batch, net.n_hidden, dtype=dtype), zeros(batch, net.n_out, dtype=dtype))
    return RateState(torch.zeros(batch, net.n_hidden, dtype=dtype), torch.zeros(batch, net.n_out, dtype=dtype))


def rates(net: NetSpec, state: RateState | SpikeState) -> tuple[torch.Tensor, torch.Tensor]:
    """The rates the rule reads: :math:`(\\rho(h), \\rho(y))`, or the filtered spike rates."""
    if isinstance(state, SpikeState):
        return net.rate_scale * state.r_h, net.rate_scale * state.r_y
    return rho(state.h), rho(state.y)


def energy_grad_state(p: dict, x: torch.Tensor, state: RateState) -> RateState:
    """:math:`\\partial E/\\partial h`, :math:`\\partial E/\\partial y`."""
    rh, ry = rho(state.h), rho(state.y)
    dh = state.h - rho_prime(state.h) * (x @ p["w1"].T + ry @ p["w2"] + p["b1"])
    dy = state.y - rho_prime(state.y) * (rh @ p["w2"].T + p["b2"])
    return RateState(dh, dy)


def energy(p: dict, x: torch.Tensor, state: RateState) -> torch.Tensor:
    """:math:`E` per batch row."""
    rh, ry = rho(state.h), rho(state.y)
    return (0.5 * (state.h ** 2).sum(-1) + 0.5 * (state.y ** 2).sum(-1) - (rh * (x @ p["w1"].T)).sum(-1)
            - (ry * (rh @ p["w2"].T)).sum(-1) - rh @ p["b1"] - ry @ p["b2"])


def cost(state: RateState, target: torch.Tensor) -> torch.Tensor:
    """:math:`C = \\frac12\\|\\rho(y) - t\\|^2` per batch row."""
    return 0.5 * ((rho(state.y) - target) ** 2).sum(-1)


def step(net: NetSpec, p: dict, state, x: torch.Tensor, target: torch.Tensor, plus: bool):
    """One step of the phase's dynamics: free (``plus`` False), nudged (EP, spiking) or clamped (CHL)."""
    if net.model == "spiking":
        return _spike_step(net, p, state, x, target, plus)
    g = energy_grad_state(p, x, state)
    k = net.dt / net.tau
    h = state.h - k * g.h
    if plus and net.model == "chl":
        clamp = target * (1 - 2 * net.clamp_margin) + net.clamp_margin
        return RateState(h, rho_inverse(clamp).expand_as(state.y))
    dy = g.y
    if plus:  # EP nudge: beta * dC/dy
        ry = rho(state.y)
        dy = dy + net.beta * rho_prime(state.y) * (ry - target)
    return RateState(h, state.y - k * dy)


def _spike_step(net: NetSpec, p: dict, s: SpikeState, x, target, plus: bool) -> SpikeState:
    rh, ry = net.rate_scale * s.r_h, net.rate_scale * s.r_y
    drive_h = x @ p["w1"].T + ry @ p["w2"] + p["b1"]
    drive_y = rh @ p["w2"].T + p["b2"]
    if plus:
        drive_y = drive_y + net.beta * (target - ry)
    z_h, _, hidden = lif_step(net.lif, s.hidden, drive_h, net.dt)
    z_y, _, out = lif_step(net.lif, s.out, drive_y, net.dt)
    decay = torch.exp(torch.tensor(-net.dt / net.tau_rate, dtype=rh.dtype))
    return SpikeState(hidden, out, decay * s.r_h + (1 - decay) * z_h, decay * s.r_y + (1 - decay) * z_y)


def hebbian(net: NetSpec, x: torch.Tensor, state) -> dict[str, torch.Tensor]:
    """:math:`g = -\\partial E/\\partial\\theta` from local rates, averaged over the batch."""
    rh, ry = rates(net, state)
    b = x.shape[0]
    return {"w1": rh.T @ x / b, "w2": ry.T @ rh / b, "b1": rh.mean(0), "b2": ry.mean(0)}


def relax(net: NetSpec, p: dict, x: torch.Tensor, target: torch.Tensor | None, plus: bool, n_steps: int,
          state=None):
    """Run one phase's dynamics for ``n_steps`` from ``state`` (zeros by default)."""
    state = initial_state(net, x.shape[0], x.dtype) if state is None else state
    for _ in range(n_steps):
        state = step(net, p, state, x, target, plus)
    return state


@torch.no_grad()
def predict(net: NetSpec, p: dict, x: torch.Tensor, n_steps: int, average_last: int = 0) -> torch.Tensor:
    """Output rates after a free relaxation of ``n_steps`` from rest (mean of the last ``average_last``
    steps' rates for the spiking model, whose filtered rate fluctuates)."""
    state = initial_state(net, x.shape[0], x.dtype)
    acc, count = 0.0, 0
    for t in range(n_steps):
        state = step(net, p, state, x, None, False)
        if t >= n_steps - average_last:
            acc, count = acc + rates(net, state)[1], count + 1
    return acc / count if count else rates(net, state)[1]
