"""Slow reproduction: e-prop on evidence accumulation with ALIF (Bellec et al. 2020, Fig. 3).

The paper reports < 7 % error after a few hundred iterations (batch 64, Adam 5e-3). This test
asks for < 20 % error (the issue's threshold) with ``models/eprop_evidence.toml`` at batch 32,
seed 0, measured as the mean error over the last 10 iterations. Runtime on the 2-core reference
machine: see the docstring of ``test_evidence_accumulation_alif_learns`` (measured there).
Run with ``make test-slow``.
"""

from pathlib import Path

import numpy as np
import pytest

from neuromorph.config import load_card
from neuromorph.experiment import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_evidence_accumulation_alif_learns(tmp_path):
    """About 2 s per iteration at batch 32 (T = 2250 steps) on 2 cores, ~3.5 minutes in all.
    Measured (seed 0, batch 32): accuracy 0.61 at iterations 5-10, 0.84 at 30-35, 0.92 +- 0.02
    over iterations 45-75, i.e. about 8 % error, near the paper's 7 % stopping criterion."""
    spec = load_card(ROOT / "models/eprop_evidence.toml", {"train.iterations": 100, "train.batch_size": 32})
    result = train(spec, out=tmp_path / "evidence.h5", progress=False)
    error = 1.0 - float(np.mean(result.curves["accuracy"][-10:]))
    assert error < 0.20, f"error {error:.3f} after {result.iterations} iterations"
