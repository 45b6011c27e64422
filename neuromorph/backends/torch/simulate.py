r"""Forward simulation in the torch backend, without learning or with autograd (BPTT, oracles).

Both run the reference network step :meth:`neuromorph.backends.base.Lowered.step`, which every
training path shares, so every path simulates exactly the same network.
"""

from __future__ import annotations

import torch

from neuromorph.backends.base import Lowered, NetworkState, Recording, check_inputs, lower
from neuromorph.backends.torch.compiled import compiled_forward
from neuromorph.network import Parameters

__all__ = ["Lowered", "NetworkState", "Recording", "differentiable_run", "lower", "simulate"]


@torch.no_grad()
def simulate(low: Lowered, params: Parameters, inputs: torch.Tensor, state: NetworkState | None = None) -> Recording:
    """Forward-only simulation (no learning, no autograd graph); compiled where ``train.engine = "compiled"`` has a
    kernel for the neuron (:mod:`neuromorph.backends.torch.compiled`)."""
    check_inputs(low.spec, inputs)
    state = low.initial_state(inputs.shape[1]) if state is None else state
    run = compiled_forward(low, params, inputs, state)
    if run is not None:
        return Recording(run.z, run.v, run.y)
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
