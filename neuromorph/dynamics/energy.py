r"""Units of contrastive-learning networks: energy-descent rate units and LIF neurons that pass on a filtered rate.

**Energy-descent rate unit** (``"energy_rate"``; equilibrium propagation, Scellier & Bengio 2017,
eq. 3). With rates :math:`\rho(u) = \sigma(4u - 2)` (a smooth hard sigmoid: range (0, 1), slope 1 at
:math:`u = 1/2`) and the Hopfield energy
:math:`E = \tfrac12\|u\|^2 - \tfrac12\rho(u)^\top W \rho(u) - \rho(u)^\top(W^\mathrm{in} x + b)`
of a network with symmetric :math:`W`, leaky descent on :math:`E` with time constant τ is, per unit,

.. math::

    u_t = u_{t-1} - \frac{\Delta t}{\tau}\Big(u_{t-1} - \rho'(u_{t-1})\, I_t\Big), \qquad
    z_t = \rho(u_t), \qquad \psi_t = \rho'(u_t), \qquad
    I_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b

(Euler, ``dt`` in the units of τ). The rate :math:`z` plays the role of the spike. A teaching drive
added to :math:`I_t` nudges the units (EP: :math:`\beta(t - y)` on the outputs, which is
:math:`-\beta\,\partial C/\partial\rho`); :meth:`EnergyRateParameters.clamp` holds units at a rate
(contrastive Hebbian learning, Movellan 1991).

**Filtered-rate LIF** (``"filtered_lif"``): an LIF (:mod:`.lif`) driven by the same force, whose
output is its spike train low-passed with time constant ``tau_rate``,
:math:`\bar r_t = d\,\bar r_{t-1} + (1 - d)\, s_t`, :math:`d = e^{-\Delta t/\tau_\mathrm{rate}}`,
:math:`z_t = c\,\bar r_t` (``rate_scale`` *c*): the spiking variant of the energy network, whose
synapses see rates and whose plasticity reads the filtered rate (a post trace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics.lif import LIFParameters, LIFState, lif_step
from neuromorph.dynamics.neuron import Neuron
from neuromorph.errors import ConfigError


def rho(u: torch.Tensor) -> torch.Tensor:
    r""":math:`\rho(u) = \sigma(4u - 2)`."""
    return torch.sigmoid(4.0 * u - 2.0)


def rho_prime(u: torch.Tensor) -> torch.Tensor:
    r""":math:`\rho'(u) = 4\rho(u)(1 - \rho(u))`."""
    r = rho(u)
    return 4.0 * r * (1.0 - r)


def rho_inverse(r: torch.Tensor) -> torch.Tensor:
    r""":math:`\rho^{-1}(r) = \tfrac12 + \mathrm{logit}(r)/4`."""
    return 0.5 + torch.logit(r) / 4.0


class EnergyState(NamedTuple):
    """State after step t: the unit's state ``v`` (the energy's :math:`u`) and its rate ``z`` = ρ(v)."""

    v: torch.Tensor
    z: torch.Tensor


@dataclass(frozen=True)
class EnergyRateParameters(Neuron):
    """Energy-descent rate unit (module docstring): relaxation time constant ``tau`` in the units of ``dt``."""

    tau: float = 1.0

    model: ClassVar[str] = "energy_rate"
    state_names: ClassVar[tuple[str, ...]] = EnergyState._fields
    spiking: ClassVar[bool] = False
    nir_refusal: ClassVar[str] = "NIR has no energy-descent rate unit"

    def __post_init__(self) -> None:
        if not self.tau > 0:
            raise ConfigError(f"energy_rate tau must be > 0, got {self.tau!r}")

    def validate(self, n: int, dt: float) -> None:
        if dt / self.tau > 1:
            raise ConfigError(f"network.dt / tau = {dt / self.tau:g} > 1 makes the Euler relaxation unstable; "
                              "lower network.dt")

    def initial_state(self, batch: int, n: int, dtype: torch.dtype = torch.float32) -> EnergyState:
        """At rest: :math:`u = 0`, so the rate the first step reads is :math:`\\rho(0) = \\sigma(-2)`."""
        v = torch.zeros(batch, n, dtype=dtype)
        return EnergyState(v, rho(v))

    def step(self, state: EnergyState, drive: torch.Tensor, dt: float, *, theta=None, membrane=None):
        """``(z_t, psi_t, state_t)``; ``theta`` and ``membrane`` do not apply to rate units."""
        v = state.v - (dt / self.tau) * (state.v - rho_prime(state.v) * drive)
        z = rho(v)
        return z, 4.0 * z * (1.0 - z), EnergyState(v, z)

    def clamp(self, state: EnergyState, mask: torch.Tensor, rate: torch.Tensor) -> EnergyState:
        r"""Hold the units of ``mask`` (B, n) at ``rate``: :math:`u = \rho^{-1}(\mathrm{rate})` there."""
        v = torch.where(mask, rho_inverse(rate), state.v)
        return EnergyState(v, torch.where(mask, rho(v), state.z))


class FilteredLIFState(NamedTuple):
    """The LIF's membrane ``v``, spikes ``s`` and refractory count ``r``, its filtered rate ``rate`` and output ``z``."""

    v: torch.Tensor
    z: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor
    rate: torch.Tensor


@dataclass(frozen=True)
class FilteredLIFParameters(Neuron):
    """An LIF (:class:`~neuromorph.dynamics.LIFParameters`, drive scaled by :math:`1 - \\alpha`) whose output is its
    filtered spike train (module docstring)."""

    tau_mem: float = 10e-3  #: membrane time constant (s)
    v_th: float = 0.5  #: threshold
    t_ref: float = 0.0  #: refractory period (s)
    tau_rate: float = 20e-3  #: rate filter time constant (s)
    rate_scale: float = 1.0  #: filtered rate (spikes per step) -> the rate the synapses and the rule see

    model: ClassVar[str] = "filtered_lif"
    state_names: ClassVar[tuple[str, ...]] = FilteredLIFState._fields
    spiking: ClassVar[bool] = False  #: what it passes on is a real-valued rate
    nir_refusal: ClassVar[str] = "NIR has no LIF with a filtered-rate output"

    def __post_init__(self) -> None:
        if not self.tau_rate > 0:
            raise ConfigError(f"filtered_lif tau_rate must be > 0 seconds, got {self.tau_rate!r}")
        LIFParameters(tau_mem=self.tau_mem, v_th=self.v_th, t_ref=self.t_ref)  # the LIF's own checks

    @property
    def lif(self) -> LIFParameters:
        """The LIF that spikes (input scaling on, as the contrastive networks use it)."""
        return LIFParameters(tau_mem=self.tau_mem, v_th=self.v_th, t_ref=self.t_ref, input_scaling=True)

    def initial_state(self, batch: int, n: int, dtype: torch.dtype = torch.float32) -> FilteredLIFState:
        zeros = torch.zeros(batch, n, dtype=dtype)
        return FilteredLIFState(zeros, zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone())

    def step(self, state: FilteredLIFState, drive: torch.Tensor, dt: float, *, theta=None, membrane=None):
        """The LIF step on ``drive``, then the rate filter; ``psi`` is zero (no rule differentiates it)."""
        spikes, _, lif = lif_step(self.lif, LIFState(state.v, state.s, state.r), drive, dt, membrane, theta)
        d = torch.exp(torch.tensor(-dt / self.tau_rate, dtype=drive.dtype))
        rate = d * state.rate + (1 - d) * spikes
        z = self.rate_scale * rate
        return z, torch.zeros_like(z), FilteredLIFState(lif.v, z, lif.z, lif.r, rate)
