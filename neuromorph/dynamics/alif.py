r"""Adaptive LIF (ALIF) neuron of Bellec et al. (2020), same conventions as :mod:`.lif`.

.. math::

    a_t &= \rho\, a_{t-1} + z_{t-1}, \qquad \rho = e^{-\Delta t/\tau_a} \\
    A_t &= v_\mathrm{th} + \theta + \beta a_t \\
    v_t &= \alpha v_{t-1} + s\, I_t - v_\mathrm{th} z_{t-1} \\
    z_t &= H(v_t - A_t)\,[r_{t-1}=0], \qquad \psi_t = \psi(v_t - A_t)\,[r_{t-1}=0]

The adaptation path uses the neuron's own spike :math:`z_{t-1}` *with* its
gradient (it is internal to the neuron), while the reset is a constant; this is
what gives ALIF its two-component eligibility vector (Bellec et al. 2020, Methods). The
reset subtracts :math:`v_\mathrm{th}`, not :math:`A_t`, as in the paper.

``beta`` may be one value or one per neuron: a mixed LIF/ALIF population (as in
the evidence-accumulation task) is an ALIF population with :math:`\beta_j = 0`
for its LIF neurons.

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), Methods, "ALIF" and eq. (25)-(27).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics.lif import LIFParameters, Membrane, _fire, _positive, exact_membrane
from neuromorph.dynamics.neuron import Eligibility, Filter
from neuromorph.errors import ConfigError


@dataclass(frozen=True)
class ALIFParameters(LIFParameters):
    """LIF parameters plus adaptation: ``tau_adapt`` (s) and ``beta`` (scalar or per neuron); the ``"alif"`` family."""

    tau_adapt: float = 2.0
    beta: float | tuple[float, ...] = 0.07

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "tau_adapt")
        if isinstance(self.beta, list):
            object.__setattr__(self, "beta", tuple(self.beta))
        betas = self.beta if isinstance(self.beta, tuple) else (self.beta,)
        if any(b < 0 for b in betas):
            raise ConfigError(f"ALIF beta must be >= 0, got {self.beta!r}")

    def rho(self, dt: float) -> float:
        """Adaptation decay per step, :math:`e^{-\\Delta t/\\tau_a}`."""
        return math.exp(-dt / self.tau_adapt)

    def beta_tensor(self, n: int, dtype: torch.dtype) -> torch.Tensor:
        """:math:`\\beta` as a tensor of shape (n,)."""
        if isinstance(self.beta, tuple):
            if len(self.beta) != n:
                raise ConfigError(f"ALIF beta has {len(self.beta)} values for {n} neurons")
            return torch.tensor(self.beta, dtype=dtype)
        return torch.full((n,), float(self.beta), dtype=dtype)

    model: ClassVar[str] = "alif"
    state_names: ClassVar[tuple[str, ...]] = ("v", "z", "r", "a")
    nir_primitive: ClassVar[str] = ""
    nir_refusal: ClassVar[str] = (
        "NIR 1.0.8 cannot express ALIF neurons: the adaptive threshold v_th + theta + beta*a_t moves the "
        "spike condition without entering the membrane, and NIR has no neuron with a dynamic threshold "
        "(LIF, CubaLIF, IF only have a fixed v_threshold); export an LIF network (beta = 0) instead")

    @property
    def signed_eligibility(self) -> bool:
        """True: the :math:`-\\beta\\epsilon^a` term."""
        return True

    @property
    def adaptive(self) -> bool:
        return True

    def validate(self, n: int, dt: float) -> None:
        self.beta_tensor(n, torch.float64)  # a per-neuron beta must have n values

    def initial_state(self, batch: int, n: int, dtype: torch.dtype = torch.float32) -> ALIFState:
        return alif_initial_state(batch, n, dtype)

    def step(self, state, drive, dt, *, theta=None, membrane=None):
        return alif_step(self, state, drive, dt, _beta(self, state.v.shape[-1], state.v.dtype, state.v.device),
                         membrane, theta)

    def eligibility(self, dt: float, n: int, dtype: torch.dtype) -> Eligibility:
        r"""The membrane stage :math:`(\alpha, s)` and the adaptation :math:`(\rho, \beta)` (Bellec et al. 2020, eq. 25-27)."""
        return Eligibility((Filter(self.alpha(dt), self.drive_scale(dt)),), self.rho(dt), self.beta_tensor(n, dtype))

    def membrane_update(self, dt: float) -> Filter:
        """The membrane update (α, s); the adaptation stays in floating point on chips."""
        return Filter(self.alpha(dt), self.drive_scale(dt))


@functools.lru_cache(maxsize=64)
def _beta(p: ALIFParameters, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """:meth:`ALIFParameters.beta_tensor`, built once per (parameters, size, dtype, device): no copy per step."""
    return p.beta_tensor(n, dtype).to(device)


class ALIFState(NamedTuple):
    """State after step t: ``v`` (pre-reset), ``z``, refractory ``r``, adaptation ``a``."""

    v: torch.Tensor
    z: torch.Tensor
    r: torch.Tensor
    a: torch.Tensor


def alif_initial_state(batch: int, n: int, dtype: torch.dtype = torch.float32) -> ALIFState:
    """All-zero state of shape (batch, n)."""
    zeros = torch.zeros(batch, n, dtype=dtype)
    return ALIFState(zeros, zeros.clone(), zeros.clone(), zeros.clone())


def alif_step(
    p: ALIFParameters, state: ALIFState, drive: torch.Tensor, dt: float, beta: torch.Tensor,
    membrane: Membrane | None = None, theta: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, ALIFState]:
    """Advance one step. ``beta`` is :meth:`ALIFParameters.beta_tensor`. Returns ``(z, psi, state)``.

    ``membrane`` replaces the floating-point membrane update (a hardware profile's arithmetic);
    the adaptation variable stays in floating point. ``theta`` (n,) offsets the threshold
    (learnable like a bias; the reset still subtracts ``v_th``).
    """
    a = p.rho(dt) * state.a + state.z
    v = (membrane or exact_membrane(p, dt))(state.v, state.z.detach(), drive)
    threshold = p.v_th + beta * a + (0.0 if theta is None else theta)
    return _fire(p, v, threshold, state.r, dt, lambda z, r: ALIFState(v, z, r, a))
