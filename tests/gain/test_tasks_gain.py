"""The neurogym tasks at default settings and our Romo generator (docs/gain.md, "Tasks").

neurogym 2.3.1's PerceptualDecisionMaking-v0 and DelayMatchSample-v0 with default kwargs: obs dim 3,
3 actions, dt = 100 ms, trials of 22 and 32 steps. Romo after romo() of Schuessler et al. 2020 (NeurIPS,
arXiv:2006.11036): t_max = 28 tau; test = True gives the amplitudes (0.6, 1.1) and delay 5.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from neuromorph.config import load_card
from neuromorph.errors import ConfigError
from neuromorph.tasks import TASKS, LossKind, NeurogymTask, RomoTask

needs_neurogym = pytest.mark.skipif(importlib.util.find_spec("neurogym") is None,
                                    reason="needs the 'tasks' extra (neurogym)")


@needs_neurogym
@pytest.mark.parametrize("env,length", [("2af", 22), ("dms", 32)])
def test_neurogym_default_tasks_have_the_documented_shapes(env, length):
    task = NeurogymTask(env=env)
    environment = task.environment()
    assert environment.dt == 100 and task.dt == 0.1
    assert (task.n_in, task.n_out, task.n_steps) == (3, 3, length)
    assert task.loss is LossKind.CLASSIFICATION
    batch = task.sample(5, torch.Generator().manual_seed(0))
    assert batch.inputs.shape == (length, 5, 3) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (length, 5) and batch.targets.dtype == torch.int64
    assert torch.equal(batch.mask, torch.ones(length, 5))
    assert set(batch.targets.unique().tolist()) <= {0, 1, 2}
    assert (batch.targets[0] == 0).all() and (batch.targets[-1] > 0).all()  # fixate first, decide last
    assert (batch.inputs[0, :, 0] == 1).all() and (batch.inputs[-1, :, 0] == 0).all()  # fixation cue on, then off
    again = task.sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(batch.inputs, again.inputs) and torch.equal(batch.targets, again.targets)
    other = task.sample(5, torch.Generator().manual_seed(1))
    assert not torch.equal(batch.inputs, other.inputs)


@needs_neurogym
def test_neurogym_trials_are_aligned_and_2af_decides_for_the_stronger_side():
    batch = NeurogymTask(env="2af").sample(64, torch.Generator().manual_seed(3))
    decision = batch.targets[-1]
    mean_stim = batch.inputs[1:-1, :, 1:].mean(0)  # (B, 2): the two choice channels during the stimulus
    stronger = mean_stim.argmax(-1) + 1
    assert (stronger == decision).float().mean() > 0.7  # noisy at low coherence, right most of the time
    assert (batch.targets[:-1] == 0).all()  # one decision step, at the same index in every trial


def test_romo_schedule_and_test_trial():
    task = RomoTask()
    assert task.t_max == 28.0 and task.n_steps == 56 and (task.n_in, task.n_out) == (1, 2)
    test = RomoTask(test=True).sample(3, torch.Generator().manual_seed(0))
    x = test.inputs[:, 0, 0]
    on = torch.nonzero(x).flatten().tolist()
    # fixation 3 tau = 6 steps, stimulus 1 tau = 2 steps, delay 5 tau = 10 steps
    assert on == [6, 7, 18, 19]
    assert x[6].item() == pytest.approx(0.6) and x[18].item() == pytest.approx(1.1)
    dec = torch.nonzero(test.targets[:, 0, 1]).flatten().tolist()
    assert dec == list(range(30, 50))  # decision delay 5 tau, window 10 tau; f2 > f1 -> channel 1
    assert (test.targets[:, :, 0] == 0).all() and test.targets.max() == 0.5
    mask = test.mask[:, 0]
    assert mask[:20].eq(1).all() and mask[20:30].eq(0).all() and mask[30:50].eq(1).all() and mask[50:].eq(0).all()


def test_romo_random_trials_obey_the_ranges():
    batch = RomoTask().sample(400, torch.Generator().manual_seed(1))
    amps = torch.stack([batch.inputs[6, :, 0], batch.inputs.sum(0)[:, 0] / 2 - batch.inputs[6, :, 0]], -1)
    assert amps.min() >= 0.5 and amps.max() <= 1.5
    assert ((amps[:, 0] - amps[:, 1]).abs() >= 0.2 - 1e-6).all()
    s2_start = (batch.inputs[8:, :, 0] > 0).float().argmax(0) + 8
    assert s2_start.min() == 8 + 4 and s2_start.max() == 8 + 16  # delay U(2, 8) tau in steps of 0.5 tau
    label = batch.targets.sum(0).argmax(-1)
    assert torch.equal(label, (amps[:, 1] > amps[:, 0]).long())
    again = RomoTask().sample(400, torch.Generator().manual_seed(1))
    assert torch.equal(batch.inputs, again.inputs)


@pytest.mark.parametrize("kwargs", [dict(dt=0.03), dict(delay_max=1.0), dict(min_diff=2.0), dict(fixate=1),
                                    dict(tau=-1.0)])
def test_romo_rejects_bad_settings(kwargs):
    with pytest.raises(ConfigError, match="RomoTask"):
        RomoTask(**kwargs)


@needs_neurogym
def test_neurogym_rejects_unknown_env_and_cards_resolve():
    with pytest.raises(ConfigError, match="no environment"):
        NeurogymTask(env="NoSuchTask-v0").n_in
    assert TASKS["romo"] is RomoTask and TASKS["neurogym"] is NeurogymTask
    for name, n_in, n_out in (("romo", 1, 2), ("2af", 3, 3), ("dms", 3, 3)):
        spec = load_card(f"models/gain_{name}_eprop.toml")
        assert (spec.network.n_in, spec.network.n_out, spec.network.n_rec) == (n_in, n_out, 64)
        assert spec.network.neuron.alpha(spec.network.dt) == pytest.approx(0.5)


def test_missing_neurogym_is_one_clear_error(monkeypatch):
    import sys

    from neuromorph.tasks.neurogym_tasks import make_env

    make_env.cache_clear()
    monkeypatch.setitem(sys.modules, "neurogym", None)  # import neurogym now raises ImportError
    with pytest.raises(ConfigError, match=r"'tasks' extra"):
        NeurogymTask(env="dms").n_in
    make_env.cache_clear()
