"""Slow reproductions of the bias-learning paper's qualitative claims (``make test-slow``).

Williams et al. (ICLR 2025, arXiv:2407.00957), claims 1 and 4 as docs/bias.md ("Compared with the
paper's claims") lists them: (1) a random network whose biases alone learn classifies better the wider
it is; (4) bias-only Van der Pol generation fails for g < 1 and works for larger g.
Seeds and thresholds are stated here; the measured numbers are in docs/bias.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.bias.run import run_study
from neuromorph.bias.study import load_study

pytestmark = pytest.mark.slow


def test_bias_only_accuracy_rises_with_width(tmp_path):
    """Seed 0, two digit tasks, widths 16-1024, 400 Adam steps (measured 0.11, 0.38, 0.54, 0.82)."""
    overrides = {"bias_study.variants": ["original", "permuted"], "bias_study.modes": ["bias"],
                 "bias_study.widths": [16, 64, 256, 1024], "bias_study.seeds": [0]}
    tree = run_study(load_study("models/bias_multitask.toml", overrides), tmp_path, progress=False).tree
    accuracy = tree["accuracy"][:, 0, :, 0].mean(0)  # mean over the two tasks, per width
    assert np.all(np.diff(accuracy) > 0), accuracy
    assert accuracy[0] < 0.3 and accuracy[-1] > 0.7, accuracy


def test_bias_only_van_der_pol_fails_at_low_gain_and_succeeds_at_high_gain(tmp_path):
    """Seeds 0-3, N = 200 tanh units, 1500 Adam steps on the biases; free-running NMSE over the trained
    horizon (steps 20-300): a failure stays near 1 (no oscillation), a success is below 0.1.

    Measured (2026-12-02, docs/bias.md), the same to the last digit with OMP_NUM_THREADS unset and 1:
    g = 0.5: 0.980, 0.977, 0.977, 0.974 (0/4); g = 1.5: 0.013, 0.002, 0.005, 0.028 (4/4). At g = 2 the
    outcome depends on the seed in 1500 steps (0.305, 0.110, 0.187, 0.026: 1/4), so g = 2 is stated
    in the docs, not asserted here."""
    overrides = {"bias_study.gains": [0.5, 1.5], "bias_study.modes": ["bias"], "bias_study.seeds": [0, 1, 2, 3]}
    tree = run_study(load_study("models/bias_vdp.toml", overrides), tmp_path, progress=False).tree
    nmse = tree["nmse"][0]  # (gain, seed)
    assert np.all(nmse[0] > 0.5), nmse
    assert np.all(nmse[1] < 0.1), nmse
