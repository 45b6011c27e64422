r"""Leaky integrate-and-fire neuron in the discrete-time convention of Bellec et al. (2020).

One step maps the state at :math:`t-1` and the synaptic drive :math:`I_t` to the
state at :math:`t` (Bellec et al. 2020, Methods):

.. math::

    v_t &= \alpha v_{t-1} + s\, I_t - v_\mathrm{th} z_{t-1},
        \qquad \alpha = e^{-\Delta t/\tau_m},\quad
        I_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b \\
    z_t &= H(v_t - v_\mathrm{th} - \theta) \cdot [r_{t-1} = 0],
        \qquad \psi_t = \psi(v_t - \theta) \cdot [r_{t-1} = 0] \\
    r_t &= n_\mathrm{ref} \text{ if } z_t = 1 \text{ else } \max(r_{t-1} - 1, 0)

``s`` is 1 (the paper's form) or :math:`1-\alpha` (the published tutorial code,
``input_scaling=True``). :math:`\theta` is an optional per-neuron threshold offset (a learnable
parameter, ``Parameters.threshold``); it moves the spike condition only, not the reset. The reset subtracts :math:`v_\mathrm{th}` one step after
the spike, undecayed, and is never differentiated (as in norse's ``lif_step`` and
in e-prop), so BPTT and e-prop differ only through the recurrent spikes.

Why not norse's ``lif_box_feed_forward_step``: norse resets *before* the next
decay, which scales the reset by :math:`\alpha`, has no refractory period, uses
an Euler decay :math:`1 - \Delta t/\tau` and evaluates its surrogate on the
pre-reset voltage of the same step; none of these match the published e-prop
equations, which users replay with given weights. The step below keeps norse's
functional style: parameters as frozen data, state as a NamedTuple, state in and
state out.

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), Methods eqs. (6)-(7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from neuromorph.dynamics.neuron import Eligibility, Filter, Neuron
from neuromorph.dynamics.surrogate import pseudo_derivative, spike
from neuromorph.errors import ConfigError


@dataclass(frozen=True)
class LIFParameters(Neuron):
    """LIF parameters, SI units; the ``"lif"`` neuron family.

    Attributes
    ----------
    tau_mem : float
        Membrane time constant (s).
    v_th : float
        Threshold (dimensionless voltage units of the model).
    t_ref : float
        Refractory period (s); rounded to whole steps of ``dt``.
    pd_height, pd_width : float
        Pseudo-derivative height :math:`\\gamma` and width :math:`\\delta` (units of v_th).
    input_scaling : bool
        Scale the synaptic drive by :math:`1-\\alpha` (the tutorial code's ``LightLIF``).
    """

    tau_mem: float = 20e-3
    v_th: float = 0.6
    t_ref: float = 0.0
    pd_height: float = 0.3
    pd_width: float = 1.0
    input_scaling: bool = False

    def __post_init__(self) -> None:
        _positive(self, "tau_mem", "v_th", "pd_height", "pd_width")
        if self.t_ref < 0:
            raise ConfigError(f"LIF t_ref must be >= 0 seconds, got {self.t_ref}")

    def alpha(self, dt: float) -> float:
        """Membrane decay per step, :math:`e^{-\\Delta t/\\tau_m}`."""
        return math.exp(-dt / self.tau_mem)

    def drive_scale(self, dt: float) -> float:
        """:math:`s`: 1, or :math:`1-\\alpha` with ``input_scaling``."""
        return 1.0 - self.alpha(dt) if self.input_scaling else 1.0

    def n_ref(self, dt: float) -> int:
        """Refractory period in whole steps."""
        return int(round(self.t_ref / dt))

    model: ClassVar[str] = "lif"
    state_names: ClassVar[tuple[str, ...]] = ("v", "z", "r")
    nir_primitive: ClassVar[str] = "LIF"

    @property
    def signed_eligibility(self) -> bool:
        """False: :math:`\\psi P \\ge 0` for spike inputs."""
        return False

    def initial_state(self, batch: int, n: int, dtype: torch.dtype = torch.float32) -> LIFState:
        return lif_initial_state(batch, n, dtype)

    def step(self, state, drive, dt, *, theta=None, membrane=None):
        return lif_step(self, state, drive, dt, membrane, theta)

    def eligibility(self, dt: float, n: int, dtype: torch.dtype) -> Eligibility:
        r""":math:`P = F_{(\alpha, s)}(\mathrm{pre})`: the membrane is the neuron's only state (Bellec et al. 2020, eq. 23)."""
        return Eligibility((Filter(self.alpha(dt), self.drive_scale(dt)),))

    def membrane_update(self, dt: float) -> Filter:
        r"""The membrane update :math:`v_t = \alpha v_{t-1} + s I_t - v_\mathrm{th} z_{t-1}` as (α, s): what a chip's
        integer arithmetic replaces (:mod:`neuromorph.hardware.numerics`)."""
        return Filter(self.alpha(dt), self.drive_scale(dt))


Membrane = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``membrane(v_prev, z_prev, drive) -> v``: the membrane update, replaceable by a chip's integer arithmetic."""


def exact_membrane(p: LIFParameters, dt: float) -> Membrane:
    r""":math:`v_t = \alpha v_{t-1} + s I_t - v_\mathrm{th} z_{t-1}` in floating point."""
    alpha, scale = p.alpha(dt), p.drive_scale(dt)
    return lambda v, z, drive: alpha * v + scale * drive - p.v_th * z


class LIFState(NamedTuple):
    """State after step t: membrane ``v`` (pre-reset), spikes ``z``, refractory count ``r``."""

    v: torch.Tensor
    z: torch.Tensor
    r: torch.Tensor


def lif_initial_state(batch: int, n: int, dtype: torch.dtype = torch.float32) -> LIFState:
    """All-zero state of shape (batch, n)."""
    zeros = torch.zeros(batch, n, dtype=dtype)
    return LIFState(zeros, zeros.clone(), zeros.clone())


def lif_step(
    p: LIFParameters, state: LIFState, drive: torch.Tensor, dt: float, membrane: Membrane | None = None,
    theta: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """Advance one step. Returns ``(z_t, psi_t, state_t)``; see the module docstring.

    ``membrane`` replaces the floating-point update (a hardware profile's integer arithmetic);
    ``theta`` (n,) offsets the threshold.
    """
    v = (membrane or exact_membrane(p, dt))(state.v, state.z.detach(), drive)
    threshold = torch.as_tensor(p.v_th, dtype=v.dtype) if theta is None else p.v_th + theta
    return _fire(p, v, threshold, state.r, dt, lambda z, r: LIFState(v, z, r))


def _fire(p: LIFParameters, v, threshold, r_prev, dt, make_state):
    """Threshold crossing, refractoriness and pseudo-derivative, shared by LIF and ALIF."""
    free = (r_prev <= 0).to(v.dtype)
    z = spike(v, threshold, p.v_th, p.pd_height, p.pd_width) * free
    psi = pseudo_derivative(v.detach(), threshold.detach(), p.v_th, p.pd_height, p.pd_width) * free
    n_ref = p.n_ref(dt)
    r = torch.where(z.detach() > 0, torch.full_like(r_prev, float(n_ref)), torch.clamp(r_prev - 1, min=0))
    return z, psi, make_state(z, r)


def _positive(obj, *names: str) -> None:
    for name in names:
        if not getattr(obj, name) > 0:
            raise ConfigError(f"{type(obj).__name__}.{name} must be > 0, got {getattr(obj, name)!r}")
