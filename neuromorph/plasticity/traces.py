r"""Presynaptic and readout traces, and the time filters every rule shares.

Low-pass filter with decay :math:`a` and input scale :math:`s`:
:math:`F_t = a F_{t-1} + s\, u_t` (THEORY.md §5.1; the tutorial convention is
:math:`s = 1-a`, the paper's is :math:`s = 1`). Presynaptic traces of the
hidden layer use the membrane decay :math:`\alpha`, readout traces use
:math:`\kappa`:

.. math::

    P^\mathrm{in}_t = \alpha P^\mathrm{in}_{t-1} + s_\mathrm{in} x_t, \quad
    P^\mathrm{rec}_t = \alpha P^\mathrm{rec}_{t-1} + s_\mathrm{in} z_{t-1}, \quad
    P^\mathrm{b}_t = \alpha P^\mathrm{b}_{t-1} + s_\mathrm{in}, \quad
    Z^\kappa_t = \kappa Z^\kappa_{t-1} + s_\mathrm{out} z_t
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from neuromorph.dynamics import ALIFParameters, LIFParameters, RateParameters, ReadoutParameters


class TraceConstants(NamedTuple):
    """Decays and scales of the traces; ``beta``/``rho`` only for ALIF."""

    alpha: float
    s_in: float
    kappa: float
    s_out: float
    rho: float | None = None
    beta: torch.Tensor | None = None  #: (n_rec,)

    @property
    def adaptive(self) -> bool:
        return self.beta is not None


def trace_constants(
    neuron: LIFParameters | ALIFParameters | RateParameters,
    readout: ReadoutParameters,
    dt: float,
    n_rec: int,
    dtype: torch.dtype,
) -> TraceConstants:
    """Constants for a network's neuron and readout parameters."""
    adaptive = isinstance(neuron, ALIFParameters)
    return TraceConstants(
        alpha=neuron.alpha(dt),
        s_in=neuron.drive_scale(dt),
        kappa=readout.kappa(dt),
        s_out=readout.drive_scale(dt),
        rho=neuron.rho(dt) if adaptive else None,
        beta=neuron.beta_tensor(n_rec, dtype) if adaptive else None,
    )


class PreTraces(NamedTuple):
    """Per-neuron traces at step t; shapes (B, n_in), (B, n_rec), (B, 1), (B, n_rec), (B, 1)."""

    inp: torch.Tensor
    rec: torch.Tensor
    bias: torch.Tensor
    out: torch.Tensor  #: :math:`Z^\kappa`, the readout's presynaptic trace
    out_bias: torch.Tensor  #: :math:`F_\kappa(1)`


def zero_traces(batch: int, n_in: int, n_rec: int, dtype: torch.dtype) -> PreTraces:
    """Traces at the start of a sequence."""
    z = lambda n: torch.zeros(batch, n, dtype=dtype)
    return PreTraces(z(n_in), z(n_rec), z(1), z(n_rec), z(1))


def pre_trace_step(
    tr: PreTraces, c: TraceConstants, x_t: torch.Tensor, z_prev: torch.Tensor, z_t: torch.Tensor
) -> PreTraces:
    """Advance every trace by one step (see the module docstring for time indices)."""
    return PreTraces(
        inp=c.alpha * tr.inp + c.s_in * x_t,
        rec=c.alpha * tr.rec + c.s_in * z_prev,
        bias=c.alpha * tr.bias + c.s_in,
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
