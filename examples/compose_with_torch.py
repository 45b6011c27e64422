"""A neuromorph spiking network inside a torch model: a ``torch.nn.Linear`` encoder feeds it (docs/torch_module.md).

The flagship sine task (a frozen Poisson raster in, a sum of four sines out; ``models/eprop_sine.toml``), shrunk,
with a learned linear encoder between the raster and the spiking network's inputs:

    raster (T, B, 100) -> nn.Linear(100, 40) -> neuromorph.torch.Network (40 -> 60 LIF -> 1) -> readout y

``--mode bptt`` (default) trains encoder and network together with ``torch.optim.Adam``, autograd through both
(BPTT through the network's time steps). ``--mode eprop`` keeps the encoder fixed (a random projection) and trains
the network with e-prop through ``Network.local_grads``: the rule writes ``.grad``, Adam steps.

    python examples/compose_with_torch.py                  # about 10 s on one core
    python examples/compose_with_torch.py --mode eprop
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch import nn

from neuromorph.config import load_card
from neuromorph.plasticity.losses import loss_value
from neuromorph.torch import Network


class Composed(nn.Module):
    """Encoder, then the spiking network; ``forward`` returns the network's readout (T, B, n_out)."""

    def __init__(self, n_raster: int, width: int, net: Network) -> None:
        super().__init__()
        self.encoder = nn.Linear(n_raster, width, bias=False)
        self.net = net

    def encode(self, raster: torch.Tensor) -> torch.Tensor:
        return self.encoder(raster)  # applied at every step: (T, B, n_raster) -> (T, B, width)

    def forward(self, raster: torch.Tensor) -> torch.Tensor:
        return self.net(self.encode(raster)).y


def train(mode: str = "bptt", iterations: int = 30, n_rec: int = 60, width: int = 40, n_steps: int = 300,
          lr: float = 1e-2, seed: int = 0) -> list[float]:
    """Train the composed model; returns the task loss of every iteration (before its update)."""
    torch.manual_seed(seed)  # the encoder's initial weights
    card = load_card("models/eprop_sine.toml", {"network.n_rec": n_rec, "task.n_steps": n_steps,
                                                "train.seed": seed, "train.engine": "torch"})
    network = dataclasses.replace(card.network, n_in=width)  # the network reads the encoder's outputs
    net = Network(network, init=card.init, generator=torch.Generator().manual_seed(seed), engine="torch")
    model = Composed(card.task.n_in, width, net)
    gen = torch.Generator().manual_seed(seed)
    if mode == "bptt":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif mode == "eprop":
        model.encoder.requires_grad_(False)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        raise ValueError(f"mode must be 'bptt' or 'eprop', got {mode!r}")
    losses = []
    for _ in range(iterations):
        batch = card.task.sample(1, gen)
        opt.zero_grad()
        if mode == "bptt":
            loss = loss_value(card.task.loss, model(batch.inputs), batch.targets, batch.mask)
            loss.backward()
            losses.append(float(loss.detach()))
        else:
            with torch.no_grad():
                inputs = model.encode(batch.inputs)
            result = net.local_grads(card.rule, dataclasses.replace(batch, inputs=inputs), card.task.loss)
            losses.append(result.loss)
        opt.step()
    return losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("bptt", "eprop"), default="bptt")
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    losses = train(args.mode, args.iterations)
    print(f"{args.mode}: loss {losses[0]:.3f} -> {losses[-1]:.3f} (min {min(losses):.3f}) over {len(losses)} "
          f"iterations, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
