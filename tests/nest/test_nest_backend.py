"""The NEST backend against the torch backend (float64): same losses, same spike rasters.

Needs NEST 3.10 (``pip install 'neuromorph[nest]'``); skipped without it. The tutorial card is shrunk
(30 inputs, 30 neurons, 200 steps) so that 20 iterations take seconds; the equality does not depend on it
(docs/nest.md: 100 / 100 / 1000 steps agree to 2.3e-16 over 20 iterations too).
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.backends.nest.support import nest_available

pytestmark = pytest.mark.skipif(not nest_available(), reason="NEST is not installed (pip install 'neuromorph[nest]')")

from neuromorph.config import load_card  # noqa: E402
from neuromorph.experiment import train  # noqa: E402
from neuromorph.storage import read_run  # noqa: E402

#: models/eprop_sine.toml made NEST-expressible: SGD, weights only (as the card), two silent steps per sequence
SINE = {"optimizer.name": "sgd", "optimizer.lr": 1e-4, "task.silent_steps": 2, "train.precision": "float64",
        "train.engine": "torch", "task.n_in": 30, "network.n_rec": 30, "task.n_steps": 200,
        "train.iterations": 20, "train.checkpoint_every": 20}


def _rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(a))))


@pytest.fixture(scope="module")
def sine_runs():
    spec = load_card("models/eprop_sine.toml", SINE)
    return spec, train(spec, backend="torch", progress=False), train(spec, backend="nest", progress=False)


def test_sine_losses_and_raster_equal_torch(sine_runs):
    _, torch_run, nest_run = sine_runs
    assert len(nest_run.curves["loss"]) == 20
    assert _rel(torch_run.curves["loss"], nest_run.curves["loss"]) < 1e-10
    assert np.array_equal(torch_run.last.z.numpy(), nest_run.last.z.numpy())  # the recorded iteration (20)
    assert torch_run.last.z.sum() > 0
    assert _rel(torch_run.curves["loss"][:1], torch_run.curves["loss"][-1:]) > 1e-4  # it learned something


def test_two_threads_give_the_losses_of_one(sine_runs):
    """Five iterations (two threads on a busy two-core machine are slow): the first five of the one-thread run."""
    import dataclasses

    spec, _, nest_run = sine_runs
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, iterations=5, checkpoint_every=5))
    two = train(spec, backend="nest", target="2", progress=False)
    assert _rel(nest_run.curves["loss"][:5], two.curves["loss"]) < 1e-12


def test_alif_evidence_first_losses_equal_torch():
    """ALIF (50 of 100 adaptive, t_ref 5 ms), softmax cross-entropy readout, symmetric feedback, Adam."""
    over = {"rule.targets": ["w_in", "w_rec", "w_out"], "rule.regularization.strength": 0.0, "task.silent_steps": 2,
            "train.batch_size": 2, "train.iterations": 2, "train.checkpoint_every": 2, "train.precision": "float64",
            "train.engine": "torch"}
    spec = load_card("models/eprop_evidence.toml", over)
    a = train(spec, backend="torch", progress=False)
    b = train(spec, backend="nest", progress=False)
    assert _rel(a.curves["loss"], b.curves["loss"]) < 1e-10
    assert np.array_equal(a.last.z.numpy(), b.last.z.numpy())


def test_cli_writes_a_nest_run_file(tmp_path):
    from neuromorph.cli import main

    out = tmp_path / "nest.h5"
    sets = [f"{k}={v!r}".replace("'", '"') for k, v in {**SINE, "train.iterations": 2,
                                                        "train.checkpoint_every": 1}.items()]
    argv = ["train", "models/eprop_sine.toml", "--backend", "nest", "--nest-threads", "2", "--out", str(out),
            "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    record = read_run(out)
    assert record.attrs["backend"] == "nest" and record.attrs["nest_version"].startswith("3.10")
    assert record.versions["nest-simulator"].startswith("3.10")
    assert record.status == "complete" and record.iteration == 2


def test_simulate_gives_torch_spikes_membranes_and_readout():
    """Forward only (every matrix frozen), ALIF, two sequences: one carries no spike into the next."""
    import torch

    from neuromorph.backends.base import lower
    from neuromorph.backends.nest import NestBackend
    from neuromorph.backends.torch.backend import TorchBackend
    from neuromorph.network import init_parameters

    spec = load_card("models/eprop_evidence.toml", {"network.n_rec": 20, "network.neuron.n_adaptive": 10})
    g = torch.Generator().manual_seed(1)
    params, _ = init_parameters(spec.network, spec.init, g, torch.float64)
    x = spec.task.sample(2, g).inputs.to(torch.float64)
    low = lower(spec.network, torch.float64, engine="torch")
    a, b = TorchBackend().simulate(low, params, x), NestBackend().simulate(low, params, x)
    assert torch.equal(a.z, b.z) and a.z.sum() > 0
    assert torch.allclose(a.v, b.v, rtol=0, atol=1e-12) and torch.allclose(a.y, b.y, rtol=0, atol=1e-12)


#: models/eprop_sine.toml as shipped (Adam 3e-3, w_in, w_rec and w_out, rate regulariser, inputs from step 0),
#: float64 and the torch engine; full size: the shrunk card's raster has no spike in step 1
SHIPPED = {"train.precision": "float64", "train.engine": "torch", "train.iterations": 3, "train.checkpoint_every": 3}


def test_shipped_sine_card_equals_torch_once_step_0_is_silent(monkeypatch):
    """The shipped card (refused: it has input spikes in steps 0 and 1) with the refusal lifted.

    NEST's synapse drops the input spikes of step 0, so the first loss differs (2.0e-3 relative, docs/nest.md);
    NEST's losses then are torch's with step 0 silenced, which this test checks to 1e-10 (measured: equal,
    and at most 2.9e-16 over 20 iterations), with spikes in step 1. One sequence per batch: the learning-signal
    term lost for a step-1 spike needs a next sequence in the same batch (docs/nest.md, "Silent first steps").
    """
    import torch

    from neuromorph.backends.nest import support

    monkeypatch.setattr(support, "SILENT_STEPS", 0)  # the refusal's check, lifted for this test only
    shipped = load_card("models/eprop_sine.toml", SHIPPED)
    x = shipped.task.sample(1, torch.Generator().manual_seed(shipped.task.seed)).inputs
    nest_run = train(shipped, backend="nest", progress=False)
    torch_run = train(shipped, backend="torch", progress=False)
    assert _rel(torch_run.curves["loss"][:1], nest_run.curves["loss"][:1]) > 1e-4  # the step-0 spikes
    silenced = train(load_card("models/eprop_sine.toml", {**SHIPPED, "task.silent_steps": 1}), backend="torch",
                     progress=False)
    assert _rel(silenced.curves["loss"][:1], nest_run.curves["loss"][:1]) < 1e-10  # the first iteration
    assert _rel(silenced.curves["loss"], nest_run.curves["loss"]) < 1e-10
    assert np.array_equal(silenced.last.z.numpy(), nest_run.last.z.numpy())
    assert x[0].sum() > 0 and x[1].sum() > 0  # the card's raster has spikes in steps 0 and 1
