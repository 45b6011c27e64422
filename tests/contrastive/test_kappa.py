"""The transient shrinkage law κ = 1/(1 + τ(1/T+ + 1/T-)) (periodic: 1 - 2tanh(T/2τ)/(T/τ)).

The law is stated in docs/contrastive.md ("The rule"): derived for this package, consistent with
Williams, Bredenberg & Lajoie 2023 (ICML, arXiv:2302.12431). Measured κ must lie within 0.01 of it,
with the drift's direction kept. The predicted values are the closed forms; an independent check
script measured |Δκ| <= 0.006 for these cases at t_total = 2e4 and dt = 0.01 (docs/contrastive.md,
"Measured"). Here 1000 independent runs of 100 time units each (t_total = 1e5 per case) are
simulated in one vectorised loop.
"""

import numpy as np
import pytest

from neuromorph.contrastive.kappa import THEORY_CASES, KappaCase, measure_kappa
from neuromorph.contrastive.phases import predicted_kappa, predicted_kappa_periodic
from neuromorph.errors import ConfigError


@pytest.mark.parametrize("case", THEORY_CASES, ids=lambda c: c.label)
def test_check20_kappa_within_001_of_prediction_and_direction_kept(case):
    r = measure_kappa(case, np.random.default_rng(20), runs=1000, t_run=100.0)
    assert abs(r.error) < 0.01, (r.measured, r.predicted, r.stderr)
    assert r.stderr < 0.004  # the tolerance is at least 2.5 standard errors
    assert r.cosine > 0.99
    assert r.measured < 1 - 0.03  # the shrinkage itself is resolved: κ = 1 would fail every case here


def test_predicted_kappa_closed_forms():
    assert predicted_kappa(1.0, 5.0, 5.0) == pytest.approx(1 / 1.4)  # 1/(1 + 2τ/T)
    assert predicted_kappa(0.2, 10.0, 2.5) == pytest.approx(1 / (1 + 0.2 * 0.5))
    assert predicted_kappa_periodic(1.0, 5.0) == pytest.approx(1 - 2 * np.tanh(2.5) / 5)
    assert predicted_kappa_periodic(1e-3, 5.0) == pytest.approx(1.0, abs=1e-3)  # instant relaxation: no shrinkage


def test_kappa_case_validation():
    with pytest.raises(ConfigError, match="periodic"):
        KappaCase(1.0, 5.0, 2.0, "periodic")
    with pytest.raises(ConfigError, match="process"):
        KappaCase(1.0, 5.0, 5.0, "poisson")
