r"""The torch backend's network step: neuron dynamics, then the leaky readout.

A lowering table maps each neuron-parameter type to its pure step function, so
adding a neuron model adds one row here and nothing elsewhere. The step is
shared by forward-only simulation, by the e-prop loop and by autograd (BPTT and
the stop-gradient oracle), so every path simulates exactly the same network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from neuromorph.dynamics import (
    ALIFParameters,
    LIFParameters,
    RateParameters,
    alif_initial_state,
    alif_step,
    lif_initial_state,
    lif_step,
    rate_initial_state,
    rate_step,
    readout_step,
)
from neuromorph.dynamics.lif import Membrane
from neuromorph.errors import ShapeError
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity.traces import TraceConstants, trace_constants

_NEURONS: dict[type, tuple[Callable, Callable]] = {
    LIFParameters: (lif_initial_state,
                    lambda p, s, drive, dt, beta, membrane, theta: lif_step(p, s, drive, dt, membrane, theta)),
    ALIFParameters: (alif_initial_state, alif_step),
    RateParameters: (rate_initial_state, lambda p, s, drive, dt, beta, membrane, theta: rate_step(p, s, drive, dt)),
}


class NetworkState(NamedTuple):
    """Neuron state (``LIFState``, ``ALIFState`` or ``RateState``) and readout ``y``."""

    neuron: NamedTuple
    y: torch.Tensor


@dataclass(frozen=True)
class Lowered:
    """A :class:`NetworkSpec` lowered to torch: constants resolved once.

    ``chip`` (a hardware profile's arithmetic, :class:`~neuromorph.hardware.numerics.ChipNumerics`)
    replaces the membrane update and quantises the traces; ``None`` runs in exact floating point.
    """

    spec: NetworkSpec
    dtype: torch.dtype
    consts: TraceConstants
    chip: ChipNumerics | None = None
    membrane: Membrane | None = None

    def initial_state(self, batch: int) -> NetworkState:
        init, _ = _NEURONS[type(self.spec.neuron)]
        return NetworkState(init(batch, self.spec.n_rec, self.dtype), torch.zeros(batch, self.spec.n_out, dtype=self.dtype))

    def step(
        self, params: Parameters, state: NetworkState, x_t: torch.Tensor, stop_recurrent: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, NetworkState]:
        r"""One step: :math:`I_t = W^\mathrm{in}x_t + W^\mathrm{rec}z_{t-1} + b`, neuron, readout.

        ``stop_recurrent`` detaches :math:`z_{t-1}` in the recurrent drive (the
        e-prop stop-gradient). Returns ``(z_t, psi_t, state_t)``.
        """
        spec = self.spec
        z_prev = state.neuron.z.detach() if stop_recurrent else state.neuron.z
        drive = x_t @ params.w_in.T + z_prev @ params.w_rec.T + params.bias
        _, neuron_step = _NEURONS[type(spec.neuron)]
        z, psi, neuron = neuron_step(spec.neuron, state.neuron, drive, spec.dt, self.consts.beta, self.membrane,
                                     params.threshold)
        y = readout_step(spec.readout, state.y, z @ params.w_out.T + params.b_out, spec.dt)
        return z, psi, NetworkState(neuron, y)


def lower(spec: NetworkSpec, dtype: torch.dtype = torch.float32, chip: ChipNumerics | None = None) -> Lowered:
    """Resolve decays, scales and per-neuron constants for ``spec`` (and a chip's arithmetic)."""
    consts = trace_constants(spec.neuron, spec.readout, spec.dt, spec.n_rec, dtype)
    membrane = chip.membrane(spec.neuron, spec.dt) if chip is not None and spec.spiking else None
    return Lowered(spec, dtype, consts, chip, membrane)


def check_inputs(spec: NetworkSpec, inputs: torch.Tensor) -> None:
    """Inputs must be (T, B, n_in) and finite."""
    if inputs.dim() != 3 or inputs.shape[2] != spec.n_in:
        raise ShapeError(f"inputs have shape {tuple(inputs.shape)}, expected (T, B, {spec.n_in})")


class Recording(NamedTuple):
    """Time-major recording of a simulation."""

    z: torch.Tensor  #: (T, B, n_rec) spikes (rates for rate units)
    v: torch.Tensor  #: (T, B, n_rec) membrane (pre-reset), or pre-activation
    y: torch.Tensor  #: (T, B, n_out) readout


@torch.no_grad()
def simulate(low: Lowered, params: Parameters, inputs: torch.Tensor, state: NetworkState | None = None) -> Recording:
    """Forward-only simulation (no learning, no autograd graph)."""
    check_inputs(low.spec, inputs)
    state = low.initial_state(inputs.shape[1]) if state is None else state
    zs, vs, ys = [], [], []
    for x_t in inputs:
        z, _, state = low.step(params, state, x_t)
        zs.append(z)
        vs.append(state.neuron.v)
        ys.append(state.y)
    return Recording(torch.stack(zs), torch.stack(vs), torch.stack(ys))


def differentiable_run(
    low: Lowered,
    params: Parameters,
    inputs: torch.Tensor,
    *,
    stop_recurrent: bool = False,
    truncation: int | None = None,
    state: NetworkState | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run with autograd; returns ``(y, z)``. ``truncation`` detaches the state every K steps."""
    check_inputs(low.spec, inputs)
    state = low.initial_state(inputs.shape[1]) if state is None else state
    zs, ys = [], []
    for t, x_t in enumerate(inputs):
        if truncation is not None and t > 0 and t % truncation == 0:
            state = NetworkState(type(state.neuron)(*(s.detach() for s in state.neuron)), state.y)
        z, _, state = low.step(params, state, x_t, stop_recurrent=stop_recurrent)
        zs.append(z)
        ys.append(state.y)
    return torch.stack(ys), torch.stack(zs)
