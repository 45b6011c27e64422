"""The digits variants and the dynamical-system tasks of the bias-learning study."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks import DigitsTask, TrajectoryTask
from neuromorph.tasks.digits import DIGIT_VARIANTS
from neuromorph.tasks.dynamical import autocorrelation_hwhm, lorenz_series, vdp_cycle


def test_digits_variants_are_the_stated_transforms_of_one_split():
    base_train, base_test = DigitsTask()._split()
    assert len(base_train[1]) + len(base_test[1]) == 1797 and len(base_test[1]) == round(0.3 * 1797)
    images = base_test[0].reshape(-1, 8, 8)
    x = DigitsTask(variant="rotated")._split()[1][0]
    np.testing.assert_array_equal(x.reshape(-1, 8, 8), np.rot90(images, 1, axes=(1, 2)))
    np.testing.assert_array_equal(DigitsTask(variant="inverted")._split()[1][0], 1 - base_test[0])
    np.testing.assert_array_equal(DigitsTask(variant="flipped")._split()[1][0].reshape(-1, 8, 8), images[:, :, ::-1])
    permuted = DigitsTask(variant="permuted")._split()[1][0]
    assert not np.array_equal(permuted, base_test[0])
    np.testing.assert_array_equal(np.sort(permuted, axis=1), np.sort(base_test[0], axis=1))  # same pixels, moved
    relabeled = DigitsTask(variant="relabeled")._split()[1]
    np.testing.assert_array_equal(relabeled[0], base_test[0])
    mapping = {int(a): int(b) for a, b in zip(base_test[1], relabeled[1])}
    assert sorted(mapping.values()) == list(range(10)) and any(a != b for a, b in mapping.items())


def test_digits_trials_show_one_image_with_the_loss_on_the_last_step():
    batch = DigitsTask(n_steps=3).sample(5, torch.Generator().manual_seed(0))
    assert batch.inputs.shape == (3, 5, 64) and batch.targets.shape == (3, 5) and batch.targets.dtype == torch.int64
    assert torch.equal(batch.inputs[0], batch.inputs[2]) and batch.mask[:, 0].tolist() == [0, 0, 1]
    assert 0 <= batch.inputs.min() and batch.inputs.max() <= 1
    assert DigitsTask().test_set().batch_size == round(0.3 * 1797)


def test_vdp_cycle_is_periodic_and_solves_the_equation():
    cycle = vdp_cycle(1.0, 1000)
    # the limit cycle of mu = 1 has amplitude 2.0086 (a classical value, e.g. Strogatz, Nonlinear Dynamics §7.5)
    assert abs(cycle[:, 0].max() - 2.0086) < 1e-3
    dx = np.gradient(cycle[:, 0], edge_order=2)
    # x' = y along the cycle: dx/dphase is proportional to y with one constant, the period / 1000
    scale = np.polyfit(cycle[5:-5, 1], dx[5:-5], 1)[0]
    assert np.corrcoef(cycle[5:-5, 1], dx[5:-5])[0, 1] > 0.9999
    assert abs(scale * 1000 - 6.6633) < 1e-2  # the period of mu = 1 (6.6633, Strogatz §7.5)


def test_generation_trials_cue_then_target_with_a_washout():
    task = TrajectoryTask(system="sine", n_steps=50, washout=10, cue_steps=3, period=0.2, dt=0.01)
    batch = task.sample(2, torch.Generator())
    assert batch.inputs[:3].eq(1).all() and batch.inputs[3:].eq(0).all()
    t = np.arange(50) * 0.01
    np.testing.assert_allclose(batch.targets[:, 0, 0], np.sin(2 * np.pi * t / 0.2), atol=1e-6)
    assert batch.mask[:10].eq(0).all() and batch.mask[10:].eq(1).all()


def test_lorenz_lag_is_the_autocorrelation_half_width():
    task = TrajectoryTask(system="lorenz")
    series = lorenz_series(task.series_length, task.sample_dt, task.seed)
    assert abs(series.mean()) < 1e-12 and abs(series.std() - 1) < 1e-12
    assert abs(autocorrelation_hwhm(series) - task.lag) <= 1
    batch = task.sample(3, torch.Generator().manual_seed(1))
    # the target is the input 27 samples later, within the same window
    torch.testing.assert_close(batch.targets[: -task.lag, :, 0], batch.inputs[task.lag:, :, 0])


@pytest.mark.parametrize(("cls", "kwargs", "field"), [
    (DigitsTask, {"variant": "mnist"}, "variant"),
    (DigitsTask, {"test_fraction": 1.0}, "test_fraction"),
    (TrajectoryTask, {"system": "rossler"}, "system"),
    (TrajectoryTask, {"washout": 300, "n_steps": 300}, "washout"),
    (TrajectoryTask, {"system": "lorenz", "series_length": 100}, "series_length"),
])
def test_bad_task_fields_name_the_field(cls, kwargs, field):
    with pytest.raises(ConfigError, match=field):
        cls(**kwargs)


def test_every_variant_is_listed():
    assert set(DIGIT_VARIANTS) == {"original", "permuted", "rotated", "inverted", "flipped", "relabeled"}
