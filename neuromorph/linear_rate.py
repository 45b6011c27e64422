r"""The linear-rate mode: the theory's linear RNN as a network of this package.

:math:`h_{t+1} = W h_t + B x_t`, :math:`y_{t+1} = A h_{t+1}` (Williams, Payeur & Lajoie 2026, docs/theory.md) is a
:class:`~neuromorph.network.NetworkSpec` of linear :class:`~neuromorph.dynamics.RateParameters`
units with ``tau = None`` (:math:`a = 1`) and an instantaneous readout (``tau_out = 0``),
with :math:`W^\mathrm{in} = B`, :math:`W^\mathrm{rec} = W`, :math:`W^\mathrm{out} = A` and
zero biases. The package's step computes :math:`h_t = W h_{t-1} + B x_t`, so its
:math:`h_t` is the theory's :math:`h_{t+1}` and the loss "at the final step" is the
loss on :math:`y` at step :math:`T-1`. RFLO's feedback matrix is :math:`\hat A^\top`
(``feedback`` has shape (n_rec, n_out) and the learning signal is
:math:`L = \hat A^\top \delta`). ``tau`` gives the leaky form
:math:`h_{t+1} = (1-a) h_t + a(J h_t + B x_t)`.

The rule interface then trains it as it trains spiking networks:
``BPTT()`` is exact BPTT, ``BPTT(truncation=1)`` is tBPTT-1, ``RFLO(decay=λ)`` is RFLO with
:math:`D = \lambda I`, and ``RFLO(feedback=SYMMETRIC, decay="jacobian")`` is symmetric e-prop.
"""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.dynamics import Activation, RateParameters, ReadoutParameters
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.theory.teacher import LinearRNN

__all__ = ["as_linear_rnn", "as_parameters", "feedback_tensor", "linear_network_spec"]


def linear_network_spec(
    n: int, m: int, o: int, *, tau: float | None = None, activation: Activation = Activation.LINEAR
) -> NetworkSpec:
    """``n`` hidden units, ``m`` inputs, ``o`` outputs; dimensionless time (dt = 1)."""
    return NetworkSpec(m, n, o, RateParameters(tau=tau, activation=activation), ReadoutParameters(tau_out=0.0), dt=1.0)


def as_parameters(net: LinearRNN, dtype: torch.dtype = torch.float64) -> Parameters:
    """:class:`LinearRNN` → :class:`Parameters` (zero biases)."""
    n, _, o = net.dims
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype).clone()
    return Parameters(w_in=t(net.B), w_rec=t(net.W), w_out=t(net.A), bias=torch.zeros(n, dtype=dtype),
                      b_out=torch.zeros(o, dtype=dtype), threshold=torch.zeros(n, dtype=dtype))


def as_linear_rnn(params: Parameters) -> LinearRNN:
    """:class:`Parameters` → :class:`LinearRNN` (float64 numpy; biases are dropped)."""
    a = lambda x: x.detach().to(torch.float64).cpu().numpy().copy()
    return LinearRNN(A=a(params.w_out), B=a(params.w_in), W=a(params.w_rec))


def feedback_tensor(A_hat: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """RFLO's :math:`\\hat A` (o, n) as the package's feedback matrix :math:`\\hat A^\\top` (n, o)."""
    return torch.as_tensor(np.asarray(A_hat, dtype=float).T.copy(), dtype=dtype)
