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

#: models/eprop_sine.toml, the tutorial's optimiser (SGD 1e-4), shrunk; inputs from step 0 (NEST presents every
#: sequence after two silent lead steps, neuromorph.backends.nest.network.LEAD)
SINE = {"optimizer.name": "sgd", "optimizer.lr": 1e-4, "train.precision": "float64",
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


def test_alif_evidence_losses_equal_torch():
    """The evidence card (ALIF: 50 of 100 adaptive, t_ref 5 ms; softmax cross-entropy; symmetric feedback; Adam;
    w_in, w_rec, w_out and the readout bias b_out), two sequences per batch, without the rate regulariser (NEST
    regularises each sequence's rate, the card the batch's). The second loss follows the first update, b_out's too.
    """
    over = {"rule.regularization.strength": 0.0, "train.batch_size": 2, "train.iterations": 2,
            "train.checkpoint_every": 2, "train.precision": "float64", "train.engine": "torch"}
    spec = load_card("models/eprop_evidence.toml", over)
    assert "b_out" in {t.value for t in spec.rule.targets}
    a = train(spec, backend="torch", progress=False)
    b = train(spec, backend="nest", progress=False)
    assert _rel(a.curves["loss"], b.curves["loss"]) < 1e-10
    assert np.array_equal(a.last.z.numpy(), b.last.z.numpy())
    assert _rel(a.params.b_out.numpy(), b.params.b_out.numpy()) < 1e-10 and a.params.b_out.abs().min() > 0


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


def test_a_readout_bias_is_added_in_every_step_of_every_sequence_only():
    """b_out as a switched current: from each sequence's first step to its last, not in the lead steps (a constant
    I_e charged the readout there: 4.4e-2 off at step 0). Sine card: the readout is compared at every step."""
    import torch

    from neuromorph.backends.base import lower
    from neuromorph.backends.nest import NestBackend
    from neuromorph.backends.torch.backend import TorchBackend
    from neuromorph.network import init_parameters

    spec = load_card("models/eprop_sine.toml", {"network.n_rec": 20, "task.n_in": 10, "task.n_steps": 50})
    g = torch.Generator().manual_seed(1)
    params, _ = init_parameters(spec.network, spec.init, g, torch.float64)
    params = params._replace(b_out=params.b_out + 0.7)
    x = spec.task.sample(2, g).inputs.to(torch.float64)
    low = lower(spec.network, torch.float64, engine="torch")
    a, b = TorchBackend().simulate(low, params, x), NestBackend().simulate(low, params, x)
    assert torch.equal(a.z, b.z)
    assert torch.allclose(a.y, b.y, rtol=0, atol=1e-12)


def test_a_learned_readout_bias_equals_torch_on_the_sine_card():
    """b_out learned with the weights, the whole sequence in the loss (SGD, 5 iterations, shrunk card)."""
    over = {**SINE, "rule.targets": ["w_in", "w_rec", "w_out", "b_out"], "optimizer.lr": 1e-3,
            "train.iterations": 5, "train.checkpoint_every": 5}
    spec = load_card("models/eprop_sine.toml", over)
    a, b = train(spec, backend="torch", progress=False), train(spec, backend="nest", progress=False)
    assert _rel(a.curves["loss"], b.curves["loss"]) < 1e-10
    assert _rel(a.params.b_out.numpy(), b.params.b_out.numpy()) < 1e-10 and a.params.b_out.abs().min() > 0


#: models/eprop_sine.toml as shipped (Adam 3e-3, w_in, w_rec and w_out, rate regulariser, inputs from step 0),
#: float64 and the torch engine
SHIPPED = {"train.precision": "float64", "train.engine": "torch", "train.iterations": 5, "train.checkpoint_every": 5}


def test_shipped_sine_card_equals_torch():
    """The shipped card, inputs spiking in steps 0 and 1: equal losses and rasters (measured: 1.6e-16 relative over
    20 iterations, docs/nest.md). Without the lead steps NEST dropped the step-0 spikes (2.0e-3 at iteration 1)."""
    import torch

    shipped = load_card("models/eprop_sine.toml", SHIPPED)
    x = shipped.task.sample(1, torch.Generator().manual_seed(shipped.task.seed)).inputs
    assert x[0].sum() > 0 and x[1].sum() > 0  # the card's raster has spikes in steps 0 and 1
    nest_run = train(shipped, backend="nest", progress=False)
    torch_run = train(shipped, backend="torch", progress=False)
    assert _rel(torch_run.curves["loss"], nest_run.curves["loss"]) < 1e-10
    assert np.array_equal(torch_run.last.z.numpy(), nest_run.last.z.numpy())


def test_sequences_of_a_batch_with_step_1_spikes_equal_torch():
    """Two sequences per batch with spikes in step 1 (regulariser off): the next sequence's step-1 inputs cost the
    sequence before its last learning-signal term without the lead steps (losses drifted from iteration 7)."""
    import torch

    over = {**SINE, "task.rate": 200.0, "rule.regularization.strength": 0.0, "train.batch_size": 2,
            "train.iterations": 10, "train.checkpoint_every": 10}
    spec = load_card("models/eprop_sine.toml", over)
    x = spec.task.sample(2, torch.Generator().manual_seed(spec.task.seed)).inputs
    assert x[1].sum() > 0
    a, b = train(spec, backend="torch", progress=False), train(spec, backend="nest", progress=False)
    assert _rel(a.curves["loss"], b.curves["loss"]) < 1e-10
    assert np.array_equal(a.last.z.numpy(), b.last.z.numpy())


def test_the_per_sequence_rate_regulariser_equals_torch():
    """Three sequences per batch, the regulariser in NEST's form (``rule.regularization.rate = "sequence"``), fresh
    rasters every batch: equal losses (measured: 0.0 relative over 6 iterations, torch and compiled engines)."""
    over = {**SINE, "rule.regularization.rate": "sequence", "train.batch_size": 3, "task.frozen": False,
            "train.iterations": 6, "train.checkpoint_every": 6}
    spec = load_card("models/eprop_sine.toml", over)
    assert spec.rule.regularization.strength > 0
    a, b = train(spec, backend="torch", progress=False), train(spec, backend="nest", progress=False)
    assert _rel(a.curves["loss"], b.curves["loss"]) < 1e-10
    assert np.array_equal(a.last.z.numpy(), b.last.z.numpy())
