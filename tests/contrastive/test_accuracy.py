"""Temporally local contrastive learning reaches the classical rule's accuracy (models/cl_*.toml).

The fast test trains seed 0 of the XOR card for 150 epochs (the card's learning-rate decay runs over
those 150 epochs); the slow tests reproduce the cards as shipped and assert the measured outcome: on XOR
periodic phases solve every seed, as classical does, and random phases are within the card's
``tolerance``; on digits both local schemes' mean final test accuracy within the stated gap of classical.
Measured numbers and figures: docs/contrastive.md.
"""

from pathlib import Path

import numpy as np
import pytest

from neuromorph.contrastive.card import load_contrastive_card
from neuromorph.contrastive.data import load_task
from neuromorph.contrastive.run import run_contrastive
from neuromorph.contrastive.train import train_scheme

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_xor_seed0_every_scheme_solves_xor():
    import dataclasses

    card = load_contrastive_card(MODELS / "cl_xor.toml")
    card = dataclasses.replace(card, train=dataclasses.replace(card.train, epochs=150, seeds=(0,)))
    data = load_task("xor", 0.25, np.random.default_rng(0))
    finals = {s: train_scheme(card, data, s, 0).final_test for s in ("classical", "periodic", "random")}
    assert finals == {"classical": 1.0, "periodic": 1.0, "random": 1.0}


@pytest.mark.slow
def test_xor_card_periodic_local_equals_classical_on_every_seed(tmp_path):
    """models/cl_xor.toml (seeds 0-3, 600 epochs), measured: classical 1, 1, 1, 1; periodic 1, 1, 1, 1
    (with the baseline trace also on periodic phases, as before: 1, 0.75, 0.75, 1); random (telegraph)
    1, 0.75, 1, 0.75, mean 0.875, within the card's 0.25 (docs/contrastive.md). Held-out seeds 4-7
    (not in the card) gave classical 0.75, 1, 1, 1; periodic 0.75, 0.75, 1, 0.5; random 1, 1, 1, 1: this
    test pins the card's seeds, it does not show that periodic phases solve XOR on every seed."""
    card = load_contrastive_card(MODELS / "cl_xor.toml")
    assert card.train.seeds == (0, 1, 2, 3)
    result = run_contrastive(card, tmp_path / "run.h5", progress=False, figures=False)
    finals = {s.scheme: s.finals for s in result.summary}
    assert finals["classical"] == (1.0, 1.0, 1.0, 1.0)
    assert finals["periodic"] == (1.0, 1.0, 1.0, 1.0)
    assert result.passed, [(s.scheme, s.mean) for s in result.summary]


@pytest.mark.slow
def test_digits_card_local_schemes_within_tolerance_of_classical(tmp_path):
    """models/cl_digits.toml (seeds 0-3, 100 epochs, burn_in 10), measured per seed (0, 1, 2, 3):
    classical 0.956, 0.960, 0.951, 0.951 (mean 0.954); periodic 0.927, 0.916, 0.938, 0.938 (0.929,
    gap 0.025); random (telegraph) 0.893, 0.927, 0.909, 0.922 (0.913, gap 0.042), docs/contrastive.md.
    Periodic phases are held to the card's tolerance of 0.05 (twice the measured gap); random phases,
    whose seeds spread by 0.013 s.d., to 0.06."""
    card = load_contrastive_card(MODELS / "cl_digits.toml")
    assert card.train.seeds == (0, 1, 2, 3) and card.phases.burn_in == 10
    result = run_contrastive(card, tmp_path / "run.h5", progress=False, figures=False)
    mean = {s.scheme: s.mean for s in result.summary}
    assert mean["classical"] > 0.94
    assert mean["classical"] - mean["periodic"] <= card.train.tolerance  # measured gap 0.025
    assert mean["classical"] - mean["random"] <= 0.06  # measured gap 0.042, see the docstring


@pytest.mark.slow
def test_xor_card_float64_matches_the_implementation_before_the_engine_rewrite():
    """Regression oracle: ``tests/contrastive/data/cl_xor_float64_cef6d98.npz`` holds the accuracy curves and final
    weights of models/cl_xor.toml (seeds 0-3, every scheme, float64) trained by the contrastive stack of commit
    cef6d98, before it ran through the engine. Measured: curves identical, weights within 2.7e-14 (about 100 s)."""
    import torch

    ref = np.load(Path(__file__).parent / "data" / "cl_xor_float64_cef6d98.npz")
    card = load_contrastive_card(MODELS / "cl_xor.toml")
    data = load_task("xor", 0.25, np.random.default_rng(0))
    for scheme in card.train.schemes:
        for seed in card.train.seeds:
            c = train_scheme(card, data, scheme, seed, dtype=torch.float64)
            np.testing.assert_array_equal(c.train_acc, ref[f"{scheme}_{seed}_train"])
            np.testing.assert_array_equal(c.test_acc, ref[f"{scheme}_{seed}_test"])
            for name, value in c.params.items():
                np.testing.assert_allclose(value, ref[f"{scheme}_{seed}_{name}"], rtol=0, atol=1e-12)
