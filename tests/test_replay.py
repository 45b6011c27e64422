"""The NEST replay case through the public API (examples/replay_frozen_raster.py), and train(data=...).

Given weights, feedback, a frozen (T, n_in) raster and a target, SGD at a given lr in float64: the loss
curve of ``train(spec, data=..., params=..., feedback=...)`` matches the same computation done by hand.
The hand computation is autograd through the package's differentiable step with the recurrent spikes
detached (e-prop's approximation, Bellec et al. 2020 eqs. 13-14) and the learning signal sent through the
feedback matrix B instead of W_out^T: y = y_W + (y_B - sg(y_B)), where y_W is the readout with the hidden
weights detached (the exact readout gradient) and y_B the readout of the same spikes through B^T (the hidden
weights' gradient, dE/dz_j = sum_k B_jk dE/dy_k).
"""

import dataclasses
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

import neuromorph
from neuromorph import experiment
from neuromorph.backends.torch import differentiable_run, lower
from neuromorph.config import load_card, resolved_card
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.network import Parameters
from neuromorph.plasticity.losses import loss_value
from neuromorph.storage import read_run
from neuromorph.types import LossKind, TrialBatch

ROOT = Path(__file__).resolve().parents[1]
replay = runpy.run_path(str(ROOT / "examples/replay_frozen_raster.py"))["replay"]


def problem(n_in=10, n_rec=16, n_steps=120, seed=3):
    g = torch.Generator().manual_seed(seed)
    f64 = dict(generator=g, dtype=torch.float64)
    w_rec = torch.randn(n_rec, n_rec, **f64) / n_rec**0.5
    w_rec.fill_diagonal_(0.0)
    w_in, w_out = 3 * torch.randn(n_rec, n_in, **f64) / n_in**0.5, torch.randn(1, n_rec, **f64) / n_rec**0.5
    feedback = torch.randn(n_rec, 1, **f64)
    raster = (torch.rand(n_steps, n_in, **f64) < 0.1).double()
    target = torch.sin(torch.linspace(0, 2 * torch.pi, n_steps, dtype=torch.float64))[:, None]
    return w_in, w_rec, w_out, feedback, raster, target


def by_hand(w_in, w_rec, w_out, feedback, raster, target, *, lr, iterations):
    """Plain SGD on the e-prop gradient, computed with autograd (module docstring)."""
    spec = load_card(ROOT / "models/eprop_sine.toml", {"task.n_in": raster.shape[1], "network.n_rec": w_rec.shape[0]})
    low, reg = lower(spec.network, torch.float64), spec.rule.regularization
    x, y_star, mask = raster[:, None, :], target[:, None, :], torch.ones(raster.shape[0], 1, dtype=torch.float64)
    w = {"w_in": w_in.clone(), "w_rec": w_rec.clone(), "w_out": w_out.clone()}
    zeros = torch.zeros(w_rec.shape[0], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    losses = []
    for _ in range(iterations):
        leaf = {k: v.clone().requires_grad_(True) for k, v in w.items()}
        readout_path = Parameters(leaf["w_in"].detach(), leaf["w_rec"].detach(), leaf["w_out"], *zeros)
        hidden_path = Parameters(leaf["w_in"], leaf["w_rec"], feedback.T, *zeros)
        y_w, _ = differentiable_run(low, readout_path, x, stop_recurrent=True)
        y_b, z = differentiable_run(low, hidden_path, x, stop_recurrent=True)
        task_loss = loss_value(LossKind.REGRESSION, y_w + (y_b - y_b.detach()), y_star, mask)
        grads = torch.autograd.grad(task_loss + reg.value(z, spec.network.dt), list(leaf.values()))
        losses.append(task_loss.item())
        with torch.no_grad():
            w = {k: v - lr * g for (k, v), g in zip(w.items(), grads)}
            w["w_rec"].fill_diagonal_(0.0)
    return np.array(losses)


def test_replay_through_the_public_api_matches_the_hand_computation(tmp_path):
    given = problem()
    curve = replay(*given, lr=2e-3, iterations=6, out=tmp_path / "replay.h5")
    hand = by_hand(*given, lr=2e-3, iterations=6)
    assert curve.shape == (6,) and abs(hand[-1] - hand[0]) > 1e-3 * hand[0], "the weights must move"
    np.testing.assert_allclose(curve, hand, rtol=1e-9, atol=0)
    card = read_run(tmp_path / "replay.h5").config_toml
    assert 'name = "data"' in card and "tensors sha256:" in card  # the stored card names the data it saw


def small_spec(**more):
    return load_card(ROOT / "models/eprop_sine.toml", {"task.n_in": 10, "task.n_steps": 40, "network.n_rec": 12,
                                                       "train.precision": "float64", "train.iterations": 4, **more})


def test_data_shapes_are_checked_with_shape_errors():
    spec = small_spec()
    x, y = torch.zeros(40, 1, 10), torch.zeros(40, 1, 1)
    with pytest.raises(ShapeError, match=r"inputs have shape \(40, 1, 7\), expected \(T, B, n_in=10\)"):
        experiment.train(spec, data=(torch.zeros(40, 1, 7), y), progress=False)
    with pytest.raises(ShapeError, match=r"targets have shape \(40, 1, 2\)"):
        experiment.train(spec, data=(x, torch.zeros(40, 1, 2)), progress=False)
    with pytest.raises(ShapeError, match=r"mask has shape \(39, 1\)"):
        experiment.train(spec, data=(x, y, torch.ones(39, 1)), progress=False)
    with pytest.raises(ShapeError, match="train.batch_size = 1; set train.batch_size = 2"):
        experiment.train(spec, data=(torch.zeros(40, 2, 10), torch.zeros(40, 2, 1)), progress=False)
    with pytest.raises(ConfigError, match="data must be"):
        experiment.train(spec, data=42, progress=False)


def test_a_finite_iterable_cycles_and_a_sequence_is_indexed():
    spec = small_spec()
    g = torch.Generator().manual_seed(0)
    batches = [TrialBatch((torch.rand(40, 1, 10, generator=g) < 0.2).double(), torch.randn(40, 1, 1, generator=g,
                          dtype=torch.float64), torch.ones(40, 1, dtype=torch.float64)) for _ in range(3)]
    from_list = experiment.train(spec, data=batches, progress=False)
    from_generator = experiment.train(spec, data=(b for b in batches), progress=False)  # 3 batches, 4 iterations
    np.testing.assert_array_equal(from_list.curves["loss"], from_generator.curves["loss"])
    with pytest.raises(ConfigError, match="empty"):
        experiment.train(spec, data=iter([]), progress=False)


class FrozenTask:
    """A duck-typed task (not registered in TASKS): the sine card's frozen raster and target."""

    def __init__(self, task):
        self.task, self.n_in, self.n_out, self.n_steps, self.dt = task, task.n_in, 1, task.n_steps, task.dt
        self.loss = task.loss

    def sample(self, batch_size, generator):
        return self.task.sample(batch_size, generator)


def test_a_duck_typed_task_trains_and_resumes_without_registration(tmp_path):
    spec = small_spec()
    reference = experiment.train(spec, progress=False)
    ducked = dataclasses.replace(spec, task=FrozenTask(spec.task))
    result = experiment.train(ducked, out=tmp_path / "duck.h5", progress=False)  # was a bare StopIteration
    np.testing.assert_allclose(result.curves["loss"], reference.curves["loss"], rtol=1e-6)  # float32 target there
    more = dataclasses.replace(ducked, train=dataclasses.replace(ducked.train, iterations=6))
    assert experiment.train(more, resume=tmp_path / "duck.h5", progress=False).curves["loss"].shape == (6,)
    run = neuromorph.load_run(tmp_path / "duck.h5")
    assert run.spec.task.source == "task test_replay.FrozenTask" or run.spec.task.source.endswith("FrozenTask")
    with pytest.raises(ConfigError, match="pass the batches as train"):
        experiment.train(run.spec, progress=False)
    del ducked.task.loss
    with pytest.raises(ConfigError, match="needs the attribute 'loss'"):
        experiment.train(ducked, progress=False)
    with pytest.raises(ConfigError, match="not registered in neuromorph.tasks.TASKS"):
        resolved_card(ducked)


def test_a_run_on_tensors_continues_with_the_same_tensors_only(tmp_path):
    g = torch.Generator().manual_seed(1)
    x, y = (torch.rand(40, 10, generator=g) < 0.2).double(), torch.randn(40, 1, generator=g, dtype=torch.float64)
    whole = experiment.train(small_spec(), data=(x, y), progress=False)
    out = tmp_path / "tensors.h5"
    experiment.train(small_spec(**{"train.iterations": 2}), data=(x, y), out=out, progress=False)
    with pytest.raises(ConfigError, match=r"task.source"):
        experiment.train(small_spec(), data=(x, -y), resume=out, progress=False)
    with pytest.raises(ConfigError, match="pass the batches as train"):
        experiment.train(neuromorph.load_run(out).spec, resume=out, progress=False)
    continued = experiment.train(small_spec(), data=(x, y), resume=out, progress=False)
    for a, b in zip(continued.params, whole.params):
        assert torch.equal(a, b)
