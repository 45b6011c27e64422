r"""Presynaptic and readout traces, and the time filters every rule shares.

Low-pass filter with decay :math:`a` and input scale :math:`s`:
:math:`F_t = a F_{t-1} + s\, u_t` (Bellec et al. 2020, Methods; the tutorial convention is
:math:`s = 1-a`, the paper's is :math:`s = 1`). Presynaptic traces of the
hidden layer use the membrane decay :math:`\alpha`, readout traces use
:math:`\kappa`:

.. math::

    P^\mathrm{in}_t = \alpha P^\mathrm{in}_{t-1} + s_\mathrm{in} x_t, \quad
    P^\mathrm{rec}_t = \alpha P^\mathrm{rec}_{t-1} + s_\mathrm{in} z_{t-1}, \quad
    P^\mathrm{b}_t = \alpha P^\mathrm{b}_{t-1} + s_\mathrm{in}, \quad
    Z^\kappa_t = \kappa Z^\kappa_{t-1} + s_\mathrm{out} z_t

The decays and scales come from the neuron (:meth:`neuromorph.dynamics.Neuron.eligibility`), never
from its type. A neuron with more than one linear stage between the drive and the membrane (a
current-based LIF's synaptic current) filters the presynaptic activity through its inner stages
first (:func:`inner_trace_step`), then through the membrane stage above.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from neuromorph.dynamics import Filter, Neuron, ReadoutParameters, require


class TraceConstants(NamedTuple):
    """Decays and scales of the traces; ``beta``/``rho`` only for ALIF; ``inner`` stages before the membrane."""

    alpha: float
    s_in: float
    kappa: float
    s_out: float
    rho: float | None = None
    beta: torch.Tensor | None = None  #: (n_rec,)
    inner: tuple[Filter, ...] = ()  #: filter stages between the drive and the membrane (none for LIF)

    @property
    def adaptive(self) -> bool:
        return self.beta is not None


def trace_constants(
    neuron: Neuron, readout: ReadoutParameters, dt: float, n_rec: int, dtype: torch.dtype, who: str = "e-prop",
) -> TraceConstants:
    """Constants for a network's neuron (its stated :class:`~neuromorph.dynamics.Eligibility`) and readout."""
    require(neuron, "eligibility", who, "the eligibility terms (trace filters, adaptation)")
    e = neuron.eligibility(dt, n_rec, dtype)
    return TraceConstants(
        alpha=e.membrane.decay,
        s_in=e.membrane.scale,
        kappa=readout.kappa(dt),
        s_out=readout.drive_scale(dt),
        rho=e.rho,
        beta=e.beta,
        inner=tuple(e.filters[:-1]),
    )


class InnerTraces(NamedTuple):
    """The presynaptic activity after one inner filter stage: input (B, n_in), recurrent (B, n_rec), bias (B, 1)."""

    inp: torch.Tensor
    rec: torch.Tensor
    bias: torch.Tensor


def zero_inner(c: TraceConstants, batch: int, n_in: int, n_rec: int, dtype: torch.dtype,
               device: torch.device | str | None = None) -> tuple[InnerTraces, ...]:
    """Inner-stage traces at the start of a sequence (an empty tuple for single-stage neurons)."""
    z = lambda n: torch.zeros(batch, n, dtype=dtype, device=device)
    return tuple(InnerTraces(z(n_in), z(n_rec), z(1)) for _ in c.inner)


def inner_trace_step(
    inner: tuple[InnerTraces, ...], c: TraceConstants, x_t: torch.Tensor, z_prev: torch.Tensor,
) -> tuple[tuple[InnerTraces, ...], torch.Tensor, torch.Tensor, torch.Tensor | None]:
    r"""Advance the inner stages :math:`F_{t} = d F_{t-1} + s\,u_t` on :math:`(x_t, z_{t-1}, 1)`.

    Returns the new stages and what enters the membrane stage: the last stage's traces, or the raw
    activity with ``None`` for the bias (the constant 1) when the neuron has no inner stage.
    """
    u_in, u_rec, u_b, out = x_t, z_prev, None, []
    for stage, f in zip(inner, c.inner):
        b = f.scale if u_b is None else f.scale * u_b
        stage = InnerTraces(f.decay * stage.inp + f.scale * u_in, f.decay * stage.rec + f.scale * u_rec,
                            f.decay * stage.bias + b)
        out.append(stage)
        u_in, u_rec, u_b = stage
    return tuple(out), u_in, u_rec, u_b


class PreTraces(NamedTuple):
    """Per-neuron traces at step t; shapes (B, n_in), (B, n_rec), (B, 1), (B, n_rec), (B, 1)."""

    inp: torch.Tensor
    rec: torch.Tensor
    bias: torch.Tensor
    out: torch.Tensor  #: :math:`Z^\kappa`, the readout's presynaptic trace
    out_bias: torch.Tensor  #: :math:`F_\kappa(1)`


def zero_traces(batch: int, n_in: int, n_rec: int, dtype: torch.dtype,
                device: torch.device | str | None = None) -> PreTraces:
    """Traces at the start of a sequence."""
    z = lambda n: torch.zeros(batch, n, dtype=dtype, device=device)
    return PreTraces(z(n_in), z(n_rec), z(1), z(n_rec), z(1))


def pre_trace_step(
    tr: PreTraces, c: TraceConstants, x_t: torch.Tensor, z_prev: torch.Tensor, z_t: torch.Tensor,
    bias_in: torch.Tensor | None = None,
) -> PreTraces:
    """Advance every trace by one step (see the module docstring for time indices).

    ``x_t``, ``z_prev`` and ``bias_in`` are what enters the membrane stage: the raw activity (the
    bias's is the constant 1, ``None``) or, for a neuron with inner stages, :func:`inner_trace_step`'s.
    """
    return PreTraces(
        inp=c.alpha * tr.inp + c.s_in * x_t,
        rec=c.alpha * tr.rec + c.s_in * z_prev,
        bias=c.alpha * tr.bias + (c.s_in if bias_in is None else c.s_in * bias_in),
        out=c.kappa * tr.out + c.s_out * z_t,
        out_bias=c.kappa * tr.out_bias + c.s_out,
    )


def reverse_scan(q: torch.Tensor, decay: torch.Tensor | float) -> torch.Tensor:
    r"""Anti-causal filter :math:`G_t = q_t + d_t G_{t+1}`, :math:`G_T = 0`, along dim 0.

    ``decay`` is a scalar or a tensor shaped like ``q`` (time-varying, per neuron).
    """
    out = torch.empty_like(q)
    acc = torch.zeros_like(q[0])
    scalar = not isinstance(decay, torch.Tensor) or decay.dim() == 0
    for t in range(q.shape[0] - 1, -1, -1):
        acc = q[t] + (decay if scalar else decay[t]) * acc
        out[t] = acc
    return out
