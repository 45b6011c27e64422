r"""Leaky rate unit: linear (the analytic theory's unit), tanh or ReLU.

One step maps the state at :math:`t-1` and the synaptic drive :math:`I_t` to the
state at :math:`t`:

.. math::

    u_t = (1-a)\, u_{t-1} + a\, I_t, \qquad
    r_t = \phi(u_t), \qquad \psi_t = \phi'(u_t), \qquad
    I_t = W^\mathrm{in} x_t + W^\mathrm{rec} r_{t-1} + b

with :math:`a = \Delta t/\tau` (Euler), or :math:`a = 1` when ``tau`` is ``None``:
the discrete network :math:`h_t = W h_{t-1} + B x_t` of the linear theory
(Williams, Payeur & Lajoie 2026, docs/theory.md, with :math:`h_t` here the theory's :math:`h_{t+1}`). The leak acts
on the pre-activation and the nonlinearity on the output, as in Song, Yang & Wang
(2016) and the initial-gain study (Zhang, Liu & Liu, docs/gain.md); for the linear unit the two
common placements coincide. The rate :math:`r_t` plays the role of the spike
:math:`z_t` and :math:`\phi'` the role of the pseudo-derivative, so every rule
written for spiking neurons runs on rate units unchanged.

References
----------
Song, Yang & Wang, PLoS Comput. Biol. 12:e1004792 (2016); Murray, eLife 8:e43299 (2019);
Williams, Payeur & Lajoie, arXiv:2606.00243 (2026).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics.neuron import Eligibility, Filter, Neuron
from neuromorph.errors import ConfigError


class Activation(enum.Enum):
    """The unit's nonlinearity :math:`\\phi`."""

    LINEAR = "linear"
    TANH = "tanh"
    RELU = "relu"


@dataclass(frozen=True)
class RateParameters(Neuron):
    """Rate unit: time constant ``tau`` (s; ``None`` for the discrete map, :math:`a = 1`) and ``activation``;
    the ``"rate"`` family (its output ``z`` is the rate, its pseudo-derivative :math:`\\phi'(u)`)."""

    tau: float | None = None
    activation: Activation = Activation.LINEAR

    def __post_init__(self) -> None:
        if self.tau is not None and not self.tau > 0:
            raise ConfigError(f"RateParameters.tau must be > 0 seconds (or omitted for a = 1), got {self.tau!r}")
        if not isinstance(self.activation, Activation):
            raise ConfigError(f"RateParameters.activation must be one of {[a.value for a in Activation]}")

    def leak(self, dt: float) -> float:
        """:math:`a = \\Delta t/\\tau` (1 for the discrete map); needs :math:`\\tau \\ge \\Delta t`."""
        if self.tau is None:
            return 1.0
        if self.tau < dt:
            raise ConfigError(f"rate unit needs tau >= dt for a stable Euler step, got tau = {self.tau}, dt = {dt}")
        return dt / self.tau

    def alpha(self, dt: float) -> float:
        """State decay per step, :math:`1-a` (the trace decay of e-prop; name shared with LIF)."""
        return 1.0 - self.leak(dt)

    def drive_scale(self, dt: float) -> float:
        """:math:`a`, the factor on the drive."""
        return self.leak(dt)

    model: ClassVar[str] = "rate"
    state_names: ClassVar[tuple[str, ...]] = ("v", "z")
    spiking: ClassVar[bool] = False
    self_connections: ClassVar[bool] = True  #: the linear theory's W = P W̄ P^T has a full diagonal
    nir_primitive: ClassVar[str] = ""
    nir_refusal: ClassVar[str] = "NIR has no primitive for rate units (rate networks); only LIF networks can be exported"

    def validate(self, n: int, dt: float) -> None:
        self.leak(dt)  # tau >= dt

    def initial_state(self, batch: int, n: int, dtype: torch.dtype = torch.float32) -> RateState:
        return rate_initial_state(batch, n, dtype)

    def step(self, state, drive, dt, *, theta=None, membrane=None):
        """:func:`rate_step`; a rate unit has no threshold (learning one is refused at setup), so ``theta`` is unused."""
        return rate_step(self, state, drive, dt)

    def eligibility(self, dt: float, n: int, dtype: torch.dtype) -> Eligibility:
        r""":math:`P = F_{(1-a,\ a)}(\mathrm{pre})`: the leak acts on the pre-activation :math:`u` (Murray 2019, eq. 13)."""
        return Eligibility((Filter(self.alpha(dt), self.drive_scale(dt)),))


class RateState(NamedTuple):
    """State after step t: pre-activation ``v`` (:math:`u_t`, the membrane analogue) and rate ``z`` (:math:`r_t`)."""

    v: torch.Tensor
    z: torch.Tensor


def rate_initial_state(batch: int, n: int, dtype: torch.dtype = torch.float32) -> RateState:
    """All-zero state of shape (batch, n) (:math:`\\phi(0) = 0` for every activation here)."""
    zeros = torch.zeros(batch, n, dtype=dtype)
    return RateState(zeros, zeros.clone())


def _phi(activation: Activation, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:math:`(\\phi(u), \\phi'(u))`; the derivative is detached, like a pseudo-derivative."""
    if activation is Activation.LINEAR:
        return u, torch.ones_like(u)
    if activation is Activation.TANH:
        r = torch.tanh(u)
        return r, 1.0 - r.detach() ** 2
    return torch.relu(u), (u.detach() > 0).to(u.dtype)


def rate_step(
    p: RateParameters, state: RateState, drive: torch.Tensor, dt: float
) -> tuple[torch.Tensor, torch.Tensor, RateState]:
    """Advance one step. Returns ``(r_t, phi'(u_t), state_t)``; see the module docstring."""
    a = p.leak(dt)
    u = drive if a == 1.0 else (1.0 - a) * state.v + a * drive
    r, dr = _phi(p.activation, u)
    return r, dr, RateState(u, r)
