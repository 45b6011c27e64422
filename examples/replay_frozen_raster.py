"""Replay a given network (as from NEST's e-prop example) on a frozen raster, through the public API.

Given weights (post x pre), a feedback matrix, a frozen (T, n_in) input raster and a (T, n_out) target,
train with e-prop, plain SGD at a given learning rate, in float64, and return the per-iteration loss.
``tests/test_replay.py`` runs :func:`replay` and checks its loss curve against the same computation done by
hand (autograd with stop-gradients and the feedback matrix in the learning signal). Run it as a script for a
random 20-neuron network: ``python examples/replay_frozen_raster.py``.
"""

import torch

import neuromorph


def replay(w_in, w_rec, w_out, feedback, raster, target, *, lr=1e-3, iterations=5, out=None):
    """The loss curve (one value per iteration) of SGD at ``lr`` from the given weights on ``raster``."""
    n_rec, (n_steps, n_in) = w_rec.shape[0], raster.shape
    spec = neuromorph.load_card("eprop_sine", {          # the flagship LIF neuron, readout and e-prop rule
        "task.n_in": n_in, "task.n_steps": n_steps, "network.n_rec": n_rec,
        "optimizer.name": "sgd", "optimizer.lr": lr,
        "train.precision": "float64", "train.iterations": iterations})
    params = neuromorph.Parameters(w_in, w_rec, w_out, torch.zeros(n_rec), torch.zeros(w_out.shape[0]))
    result = neuromorph.train(spec, data=(raster, target), params=params, feedback=feedback, out=out,
                              progress=False)
    return result.curves["loss"]


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    n_in, n_rec, n_steps = 10, 20, 200
    w_rec = torch.randn(n_rec, n_rec, generator=g, dtype=torch.float64) / n_rec**0.5
    w_rec.fill_diagonal_(0.0)
    raster = (torch.rand(n_steps, n_in, generator=g) < 0.05).double()
    target = torch.sin(torch.linspace(0, 6.28, n_steps, dtype=torch.float64))[:, None]
    print(replay(torch.randn(n_rec, n_in, generator=g, dtype=torch.float64) / n_in**0.5, w_rec,
                 torch.randn(1, n_rec, generator=g, dtype=torch.float64) / n_rec**0.5,
                 torch.randn(n_rec, 1, generator=g, dtype=torch.float64), raster, target))
