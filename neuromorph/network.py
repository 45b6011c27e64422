r"""Network structure and parameters, independent of any backend.

A network is ``n_in`` inputs → ``n_rec`` recurrent LIF/ALIF neurons or rate
units → ``n_out`` leaky (or, with ``tau_out = 0``, instantaneous) readouts
(Bellec et al. 2020, Methods):

.. math::

    I_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b, \qquad
    y_t = \kappa y_{t-1} + s_\mathrm{out}(W^\mathrm{out} z_t + b^\mathrm{out})

Weights are stored post × pre (rows are postsynaptic neurons), as in the
three-factor notation :math:`\Delta W_{ji}`. Spiking networks have no
self-connections (zero diagonal); rate networks may have them, since the linear
theory's :math:`W = P \bar W P^\top` has a full diagonal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from neuromorph.dynamics import LIFParameters, Neuron, ReadoutParameters
from neuromorph.errors import ConfigError, NonFiniteError, ShapeError


@dataclass(frozen=True)
class NetworkSpec:
    """Sizes, neuron model, readout and time step (s)."""

    n_in: int
    n_rec: int
    n_out: int
    neuron: Neuron = field(default_factory=LIFParameters)
    readout: ReadoutParameters = field(default_factory=ReadoutParameters)
    dt: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("n_in", "n_rec", "n_out"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"network.{name} must be a positive integer, got {value!r}")
        if not self.dt > 0:
            raise ConfigError(f"network.dt must be > 0 seconds, got {self.dt!r}")
        if not isinstance(self.neuron, Neuron):
            raise ConfigError(f"network.neuron must be a neuron family (a subclass of neuromorph.dynamics.Neuron), "
                              f"got {type(self.neuron).__name__}")
        self.neuron.validate(self.n_rec, self.dt)

    @property
    def adaptive(self) -> bool:
        """True for neurons with an adaptation variable (ALIF)."""
        return self.neuron.adaptive

    @property
    def spiking(self) -> bool:
        """False for rate units (their output ``z`` is a real-valued rate)."""
        return self.neuron.spiking

    @property
    def self_connections(self) -> bool:
        """Whether :math:`W^\\mathrm{rec}` may have a non-zero diagonal (rate units only)."""
        return self.neuron.self_connections


class Parameters(NamedTuple):
    """Trainable parameters (post × pre)."""

    w_in: torch.Tensor  #: (n_rec, n_in)
    w_rec: torch.Tensor  #: (n_rec, n_rec), zero diagonal unless ``spec.self_connections``
    w_out: torch.Tensor  #: (n_out, n_rec)
    bias: torch.Tensor  #: (n_rec,)
    b_out: torch.Tensor  #: (n_out,)
    #: (n_rec,) offset :math:`\theta_j` of a spiking neuron's threshold, :math:`v_\mathrm{th} + \theta_j`;
    #: ``None`` (as when built from the five weights alone) means zero. Rate units have no threshold.
    threshold: torch.Tensor | None = None


def parameter_shapes(spec: NetworkSpec) -> dict[str, tuple[int, ...]]:
    """Expected shape of each parameter and of the feedback matrix."""
    return {
        "w_in": (spec.n_rec, spec.n_in),
        "w_rec": (spec.n_rec, spec.n_rec),
        "w_out": (spec.n_out, spec.n_rec),
        "bias": (spec.n_rec,),
        "b_out": (spec.n_out,),
        "threshold": (spec.n_rec,),
        "feedback": (spec.n_rec, spec.n_out),
    }


@dataclass(frozen=True)
class InitSpec:
    r"""Gaussian initialisation scales (Bellec et al. 2020 tutorial code).

    :math:`W^\mathrm{in} \sim \mathcal N(0, g_\mathrm{in}^2/n_\mathrm{in})`,
    :math:`W^\mathrm{rec} \sim \mathcal N(0, g_\mathrm{rec}^2/n_\mathrm{rec})`,
    :math:`W^\mathrm{out}, B \sim \mathcal N(0, g^2/n_\mathrm{rec})`; biases zero.
    """

    w_in_gain: float = 1.0
    w_rec_gain: float = 1.0
    w_out_gain: float = 1.0
    feedback_gain: float = 1.0


def init_parameters(
    spec: NetworkSpec, init: InitSpec, generator: torch.Generator, dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> tuple[Parameters, torch.Tensor]:
    """Draw ``(parameters, random feedback matrix B)`` from ``generator`` only.

    The numbers are drawn on the CPU (``generator`` is a CPU generator), so every ``device`` gets the same
    network; they are then moved to ``device``.
    """

    def normal(shape, gain, fan_in):
        return torch.randn(shape, generator=generator, dtype=torch.float64).mul_(gain / math.sqrt(fan_in)).to(dtype)

    w_rec = normal((spec.n_rec, spec.n_rec), init.w_rec_gain, spec.n_rec)
    if not spec.self_connections:
        w_rec.fill_diagonal_(0.0)
    params = Parameters(
        w_in=normal((spec.n_rec, spec.n_in), init.w_in_gain, spec.n_in),
        w_rec=w_rec,
        w_out=normal((spec.n_out, spec.n_rec), init.w_out_gain, spec.n_rec),
        bias=torch.zeros(spec.n_rec, dtype=dtype),
        b_out=torch.zeros(spec.n_out, dtype=dtype),
        threshold=torch.zeros(spec.n_rec, dtype=dtype),
    )
    feedback = normal((spec.n_rec, spec.n_out), init.feedback_gain, spec.n_rec)
    if torch.device(device).type != "cpu":
        params, feedback = Parameters(*(p.to(device) for p in params)), feedback.to(device)
    return params, feedback


def check_array(name: str, value: torch.Tensor, shape: tuple[int, ...]) -> None:
    """Raise :class:`ShapeError` or :class:`NonFiniteError` naming ``name``."""
    if tuple(value.shape) != tuple(shape):
        raise ShapeError(f"{name} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    if not torch.isfinite(value).all():
        raise NonFiniteError(f"{name} contains NaN or Inf")


def check_parameters(spec: NetworkSpec, params: Parameters, feedback: torch.Tensor | None = None) -> None:
    """Validate shapes and finiteness of user-given parameters (and feedback)."""
    shapes = parameter_shapes(spec)
    for name, value in params._asdict().items():
        if value is not None:
            check_array(name, value, shapes[name])
    if feedback is not None:
        check_array("feedback", feedback, shapes["feedback"])


def complete(params: Parameters, spec: NetworkSpec, dtype: torch.dtype) -> Parameters:
    """``params`` as tensors of ``dtype``, with a missing threshold offset filled in as zeros."""
    if params.threshold is None:
        params = params._replace(threshold=torch.zeros(spec.n_rec))
    return Parameters(*(torch.as_tensor(p, dtype=dtype) for p in params))


# -- layered networks ------------------------------------------------------------------------------------------
#: The layers of a two-layer energy network (Scellier & Bengio 2017): input -> hidden <-> output, symmetric coupling.
LAYER_NAMES = ("w1", "w2", "b1", "b2")


def layered(w1: torch.Tensor, w2: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor) -> Parameters:
    r"""A layered network as one population, hidden units first (``docs/contrastive.md``):

    .. math::

        W^\mathrm{in} = \begin{pmatrix} W_1 \\ 0 \end{pmatrix}, \quad
        W^\mathrm{rec} = \begin{pmatrix} 0 & W_2^\top \\ W_2 & 0 \end{pmatrix}, \quad
        b = \begin{pmatrix} b_1 \\ b_2 \end{pmatrix}, \quad
        W^\mathrm{out} = \begin{pmatrix} 0 & I \end{pmatrix}

    so that an instantaneous readout reads the output units' rates. ``w1`` is (n_h, n_in), ``w2`` (n_out, n_h).
    """
    h, o, dtype = w1.shape[0], w2.shape[0], w1.dtype
    w_in = torch.zeros(h + o, w1.shape[1], dtype=dtype)
    w_in[:h] = w1
    w_rec = torch.zeros(h + o, h + o, dtype=dtype)
    w_rec[h:, :h] = w2
    w_rec[:h, h:] = w2.T
    w_out = torch.zeros(o, h + o, dtype=dtype)
    w_out[:, h:] = torch.eye(o, dtype=dtype)
    return Parameters(w_in, w_rec, w_out, torch.cat([b1, b2]), torch.zeros(o, dtype=dtype), torch.zeros(h + o, dtype=dtype))


def layers(params: Parameters, n_hidden: int) -> dict[str, torch.Tensor]:
    """The inverse of :func:`layered`: copies of ``w1``, ``w2``, ``b1``, ``b2``."""
    h = n_hidden
    return {"w1": params.w_in[:h].detach().clone(), "w2": params.w_rec[h:, :h].detach().clone(),
            "b1": params.bias[:h].detach().clone(), "b2": params.bias[h:].detach().clone()}


def layered_masks(n_in: int, n_hidden: int, n_out: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """1 where a synapse of the layered network exists (inputs reach the hidden units; hidden and outputs couple)."""
    p = layered(torch.ones(n_hidden, n_in, dtype=dtype), torch.ones(n_out, n_hidden, dtype=dtype),
                torch.ones(n_hidden, dtype=dtype), torch.ones(n_out, dtype=dtype))
    return {"w_in": p.w_in, "w_rec": p.w_rec, "bias": p.bias}
