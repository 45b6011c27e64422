"""Tests of the e-prop tutorial tasks (Bellec et al. 2020): shapes, determinism, targets, rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks import (
    TASKS,
    EvidenceAccumulationTask,
    LinearTeacherTask,
    LossKind,
    SinePatternTask,
    Task,
    TrialBatch,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_batches_equal(a: TrialBatch, b: TrialBatch) -> None:
    assert torch.equal(a.inputs, b.inputs)
    assert torch.equal(a.targets, b.targets)
    assert torch.equal(a.mask, b.mask)


def test_registry_and_protocol() -> None:
    from neuromorph.tasks import ContextualBanditTask, DataTask, DigitsTask, NeurogymTask, RomoTask, TrajectoryTask

    assert TASKS == {"sine": SinePatternTask, "evidence": EvidenceAccumulationTask,
                     "linear_teacher": LinearTeacherTask, "digits": DigitsTask, "trajectory": TrajectoryTask,
                     "romo": RomoTask, "neurogym": NeurogymTask, "bandit": ContextualBanditTask,
                     "data": DataTask}  # the user's batches, train(spec, data=...)
    for cls in TASKS.values():
        assert isinstance(cls(), Task)


# -- sine pattern generation ----------------------------------------------------------------------


def test_sine_shapes_dtypes_and_protocol_values() -> None:
    task = SinePatternTask()
    assert (task.n_in, task.n_out, task.n_steps, task.dt) == (100, 1, 1000, 1e-3)
    assert task.loss is LossKind.REGRESSION
    batch = task.sample(3, gen(0))
    assert batch.inputs.shape == (1000, 3, 100) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (1000, 3, 1) and batch.targets.dtype == torch.float32
    assert batch.mask.shape == (1000, 3) and batch.mask.dtype == torch.float32
    assert torch.all(batch.mask == 1)
    assert set(batch.inputs.unique().tolist()) <= {0.0, 1.0}


def test_sine_frozen_gives_identical_copies_and_ignores_generator() -> None:
    task = SinePatternTask(frozen=True)
    g = gen(1)
    state = g.get_state()
    a = task.sample(4, g)
    assert torch.equal(g.get_state(), state), "frozen sampling must not consume the generator"
    for b in range(1, 4):
        assert torch.equal(a.inputs[:, b], a.inputs[:, 0])
    assert_batches_equal(a, task.sample(4, gen(999)))
    other = SinePatternTask(frozen=True, seed=1).sample(4, gen(1))
    assert not torch.equal(other.inputs, a.inputs)
    assert not torch.equal(other.targets, a.targets)


def test_sine_unfrozen_determinism_and_fixed_target() -> None:
    task = SinePatternTask(frozen=False)
    a, b, c = task.sample(2, gen(5)), task.sample(2, gen(5)), task.sample(2, gen(6))
    assert_batches_equal(a, b)
    assert not torch.equal(a.inputs, c.inputs)
    assert not torch.equal(a.inputs[:, 0], a.inputs[:, 1]), "trials in a batch are independent"
    assert torch.equal(a.targets, c.targets), "the target stays fixed when inputs are redrawn"
    assert torch.equal(a.targets, SinePatternTask(frozen=True).sample(2, gen(0)).targets)


def test_sine_target_is_documented_closed_form() -> None:
    task = SinePatternTask(seed=3)
    amplitudes, phases = (x.numpy() for x in task.target_components())
    assert amplitudes.shape == phases.shape == (4,)
    assert np.all((amplitudes >= 0.5) & (amplitudes <= 2.0))
    assert np.all((phases >= 0) & (phases < 2 * math.pi))
    t = np.arange(1000) * 1e-3
    periods = np.array([1.0, 0.5, 0.333, 0.2])
    s = sum(a * np.sin(2 * np.pi * t / p + ph) for a, p, ph in zip(amplitudes, periods, phases))
    expected = (s - s[0]) / np.max(np.abs(s - s[0]))
    got = task.sample(2, gen(0)).targets[:, :, 0].numpy()
    np.testing.assert_allclose(got[:, 0], expected, atol=1e-6)
    np.testing.assert_array_equal(got[:, 0], got[:, 1])
    assert got[0, 0] == 0.0
    assert np.max(np.abs(got)) == pytest.approx(1.0, abs=1e-6)
    # the dominant frequencies of the 1-s target are the components at 1, 2 and 5 Hz (and ~3 Hz)
    spectrum = np.abs(np.fft.rfft(got[:, 0] - got[:, 0].mean()))
    assert set(np.argsort(spectrum)[-4:]) == {1, 2, 3, 5}


@pytest.mark.parametrize("frozen", [False, True])
def test_sine_poisson_rate_within_five_standard_errors(frozen: bool) -> None:
    task = SinePatternTask(frozen=frozen, rate=50.0, n_steps=2000, seed=11)
    inputs = task.sample(1 if frozen else 32, gen(2)).inputs
    p = 50.0 * 1e-3
    n = inputs.numel()
    standard_error = math.sqrt(p * (1 - p) / n)
    assert abs(inputs.double().mean().item() - p) < 5 * standard_error


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_in": 0}, "n_in"),
        ({"n_steps": 1.5}, "n_steps"),
        ({"dt": -1e-3}, "dt"),
        ({"rate": 2000.0}, "rate"),
        ({"seed": -1}, "seed"),
        ({"frozen": 1}, "frozen"),
        ({"periods": ()}, "periods"),
        ({"periods": "1.0"}, "periods"),
        ({"periods": (1.0, 0.0)}, "periods"),
    ],
)
def test_sine_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"SinePatternTask\.{field}="):
        SinePatternTask(**kwargs)


def test_sine_accepts_periods_list_from_toml() -> None:
    task = SinePatternTask(periods=[1.0, 0.5])
    assert task.periods == (1.0, 0.5)
    assert hash(task) == hash(SinePatternTask(periods=(1.0, 0.5)))


def test_sample_argument_errors() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        SinePatternTask().sample(0, gen(0))
    with pytest.raises(ConfigError, match="torch.Generator"):
        EvidenceAccumulationTask().sample(2, 0)  # type: ignore[arg-type]


# -- evidence accumulation ----------------------------------------------------------------------


def test_evidence_shapes_dtypes_and_timing() -> None:
    task = EvidenceAccumulationTask()
    assert (task.n_in, task.n_out, task.dt) == (40, 2, 1e-3)
    assert task.loss is LossKind.CLASSIFICATION
    assert task.n_steps == 7 * 150 + 1050 + 150 == 2250  # tutorial: seq_len = 150 * 7 + 1200
    batch = task.sample(5, gen(0))
    assert batch.inputs.shape == (2250, 5, 40) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (2250, 5) and batch.targets.dtype == torch.int64
    assert batch.mask.shape == (2250, 5) and batch.mask.dtype == torch.float32
    assert torch.all(batch.targets == batch.targets[0]), "class is held at every step"
    assert set(batch.targets.unique().tolist()) <= {0, 1}


def test_evidence_short_delay_option() -> None:
    task = EvidenceAccumulationTask(delay=0.2)
    assert task.n_steps == 1050 + 200 + 150
    assert task.sample(2, gen(0)).inputs.shape == (1400, 2, 40)


def test_evidence_determinism() -> None:
    task = EvidenceAccumulationTask(delay=0.1)
    assert_batches_equal(task.sample(8, gen(3)), task.sample(8, gen(3)))
    assert not torch.equal(task.sample(8, gen(3)).inputs, task.sample(8, gen(4)).inputs)


def test_evidence_mask_covers_exactly_the_recall_window() -> None:
    task = EvidenceAccumulationTask(delay=0.3, recall_duration=0.15)
    batch = task.sample(3, gen(1))
    expected = np.zeros(1050 + 300 + 150)
    expected[1050 + 300 :] = 1.0
    for b in range(3):
        np.testing.assert_array_equal(batch.mask[:, b].numpy(), expected)


def test_evidence_label_is_majority_of_cue_spike_counts() -> None:
    # cue channels fire at every step of their cue (p = 1); others silent; majority from counts
    task = EvidenceAccumulationTask(delay=0.05, cue_rate=1000.0, background_rate=0.0)
    batch = task.sample(64, gen(7))
    x = batch.inputs.numpy()
    left, right, recall = slice(0, 10), slice(10, 20), slice(20, 30)
    n_right = np.zeros(64, dtype=int)
    for k in range(7):
        window = slice(50 + 150 * k, 150 + 150 * k)  # 50 ms silence, then a 100 ms cue
        counts_left = x[window, :, left].sum(axis=(0, 2))
        counts_right = x[window, :, right].sum(axis=(0, 2))
        assert np.all((counts_left == 0) ^ (counts_right == 0)), "exactly one side per cue"
        assert np.all(counts_left + counts_right == 100 * 10)
        n_right += counts_right > counts_left
        gap = slice(150 * k, 50 + 150 * k)
        assert x[gap, :, :20].sum() == 0, "cue channels are silent between cues"
    expected = (n_right > 3).astype(np.int64)
    np.testing.assert_array_equal(batch.targets[0].numpy(), expected)
    assert 0 < expected.sum() < 64, "both classes occur"
    assert x[: 1050 + 50, :, recall].sum() == 0, "recall channels are silent before recall"
    assert x[1100:, :, recall].sum() > 0, "recall channels fire during recall"


def test_evidence_poisson_rates_within_five_standard_errors() -> None:
    task = EvidenceAccumulationTask(delay=0.2)
    x = task.sample(64, gen(9)).inputs.double()

    def check(values: torch.Tensor, rate: float) -> None:
        p = rate * 1e-3
        se = math.sqrt(p * (1 - p) / values.numel())
        assert abs(values.mean().item() - p) <= 5 * se

    check(x[:, :, 30:40], 10.0)  # background, throughout
    check(x[1250:1400, :, 20:30], 40.0)  # recall window
    check(x[:1250, :, 20:30], 0.0)
    cue_channels = x[50:150, :, 0:20]  # first cue: one side at 40 Hz, the other silent
    check(cue_channels, 20.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_cues": 6}, "n_cues"),
        ({"n_cues": 0}, "n_cues"),
        ({"n_in": 42}, "n_in"),
        ({"delay": -0.1}, "delay"),
        ({"delay": 0.0005}, "delay"),
        ({"cue_period": 0.05}, "cue_period"),
        ({"cue_rate": -1.0}, "cue_rate"),
        ({"background_rate": 5000.0}, "background_rate"),
        ({"dt": 0.0}, "dt"),
    ],
)
def test_evidence_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"EvidenceAccumulationTask\.{field}="):
        EvidenceAccumulationTask(**kwargs)


def test_evidence_silent_steps_blank_the_first_steps_only():
    """``task.silent_steps`` (as NEST's e-prop tutorials leave them) zeroes every input of the first steps and nothing else."""
    from neuromorph.config import load_card

    plain = load_card("models/eprop_evidence.toml").task.sample(32, torch.Generator().manual_seed(2))
    silent = load_card("models/eprop_evidence.toml", {"task.silent_steps": 2}).task.sample(
        32, torch.Generator().manual_seed(2))
    assert plain.inputs[:2].sum() > 0 and silent.inputs[:2].sum() == 0
    assert torch.equal(silent.inputs[2:], plain.inputs[2:]) and torch.equal(silent.targets, plain.targets)
