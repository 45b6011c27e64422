"""Slow reproduction, e-prop half, of the initial-gain study's results: sweeps/gain_eprop_long.toml.

Zhang, Liu & Liu report that gain 0.2 learns slowest and that 100 iterations of local pre-flossing help
e-prop; the measured numbers are in docs/gain.md ("e-prop for 3000 iterations").

Romo with the card's network (N = 64, batch 32, Adam lr 1e-3) trained with rate e-prop for
3000 iterations, gains 0.2 / 1.0 / 1.8, seeds 0, 1, 2, with and without 100 iterations of local
pre-flossing (k = 16). 18 runs, about 20 minutes on 2 shared cores. Set
NEUROMORPH_GAIN_EPROP_OUT to keep or reuse the runs (finished runs are skipped), e.g. the output
of ``neuromorph sweep sweeps/gain_eprop_long.toml --out runs/gain_eprop_long``.

Learning speed is the mean loss over all iterations (area under the curve), averaged over seeds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from neuromorph.sweep import run_sweep, summarise

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    out = Path(os.environ.get("NEUROMORPH_GAIN_EPROP_OUT") or tmp_path_factory.mktemp("gain_eprop_long"))
    result = run_sweep(ROOT / "sweeps/gain_eprop_long.toml", out, n_workers=2, progress=False)
    assert not result.failed
    return summarise(out)


def _auc(summary, gain, floss=False):
    return float(np.mean(summary[("romo", "eprop", gain, floss)]["loss_mean"]))


def test_gain_02_learns_slowest_under_eprop(summary):
    # measured AUC 1.330 (g = 0.2: every seed stays at the trivial solution, final loss 1.313)
    # vs 1.031 (g = 1.0, final 0.808). At g = 1.8 and lr 1e-3 e-prop diverges on 2 of 3 seeds
    # (unbounded ReLU rates), so g = 1.8 is compared only after flossing, which keeps it stable.
    assert _auc(summary, 0.2) > 1.15 * _auc(summary, 1.0)
    assert _auc(summary, 0.2, True) > _auc(summary, 1.0, True)
    final = {g: np.mean(summary[("romo", "eprop", g, False)]["final_loss"]) for g in (0.2, 1.0)}
    assert final[0.2] > 1.25 and final[1.0] < 0.9 * final[0.2], final


def test_local_preflossing_speeds_up_eprop(summary):
    for gain, factor in ((0.2, 0.85), (1.0, 0.85)):  # measured ratios 0.746 and 0.612
        assert _auc(summary, gain, True) < factor * _auc(summary, gain), gain
    s = summary[("romo", "eprop", 0.2, True)]
    assert np.mean(s["le_flossed"]) > np.mean(s["le_before"]) + 0.3  # measured -0.604 -> -0.177
    assert np.isfinite(summary[("romo", "eprop", 1.8, True)]["loss_mean"]).all()
    assert _auc(summary, 1.8, True) < 2.0  # measured 1.118; without flossing one seed reaches 1e6


def test_max_lyapunov_exponent_is_near_zero_after_eprop_training(summary):
    for (_, _, gain, floss), s in summary.items():
        assert abs(np.mean(s["le_after"])) < 0.2, (gain, floss)  # measured |mean| <= 0.168
    before = np.mean(summary[("romo", "eprop", 0.2, False)]["le_before"])
    after = np.mean(summary[("romo", "eprop", 0.2, False)]["le_after"])
    assert before < -0.5 and after > before + 0.3  # measured -0.604 -> -0.168
