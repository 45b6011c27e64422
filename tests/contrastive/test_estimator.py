"""The phase-local estimator is unbiased (docs/contrastive.md, "The rule"), and the phase processes.

With exact samples from each phase and i.i.d. phases, P(+) = p, the mean of s_t g_t over 10^6 steps equals
1/2 (E+[g] - E-[g]) within 5 standard errors, at p = 0.5 and p = 0.8 with importance weights.
"""

import numpy as np
import pytest

from neuromorph.contrastive.estimators import iid_estimate
from neuromorph.contrastive.phases import IID, Paired, Periodic, Renewal, Telegraph, importance_weights, phase_signal
from neuromorph.errors import ConfigError

MU_PLUS = np.array([0.8, -0.3, 0.5])
MU_MINUS = np.array([0.2, 0.4, 0.5])  # the last coordinate: no contrast


def _sampler(mu):
    """Exact draws of a non-linear g: the Hebbian product of two Gaussian-rate units and their rates."""
    def sample(idx, gen):
        a = mu + 0.5 * gen.standard_normal((len(idx), 3))
        return np.column_stack([a, a[:, 0] * a[:, 1]])
    return sample


def _expected():
    # E[a0 a1] = mu0 mu1 (independent coordinates)
    plus = np.append(MU_PLUS, MU_PLUS[0] * MU_PLUS[1])
    minus = np.append(MU_MINUS, MU_MINUS[0] * MU_MINUS[1])
    return 0.5 * (plus - minus)


@pytest.mark.parametrize("p", [0.5, 0.8])
def test_check19_iid_phases_unbiased_within_5_standard_errors(p):
    mean, se = iid_estimate(_sampler(MU_PLUS), _sampler(MU_MINUS), p, 1_000_000, np.random.default_rng(19))
    z = np.abs(mean - _expected()) / se
    assert np.all(z < 5), (mean, _expected(), z)
    assert np.all(se < 2e-3)  # the test has power: 5 s.e. is small against the contrasts


def test_check19_without_importance_weights_is_biased_at_p_08():
    """The control: s = ±1 at p = 0.8 estimates 0.8 E+[g] - 0.2 E-[g], far outside 5 s.e."""
    mean, se = iid_estimate(_sampler(MU_PLUS), _sampler(MU_MINUS), 0.8, 200_000, np.random.default_rng(1),
                            weighted=False)
    assert np.max(np.abs(mean - _expected()) / se) > 50


def test_importance_weights_make_the_signal_zero_mean():
    for p in (0.2, 0.5, 0.8):
        s_plus, s_minus = importance_weights(p)
        assert p * s_plus + (1 - p) * s_minus == pytest.approx(0.0)
        assert s_plus - s_minus == pytest.approx(1 / (2 * p) + 1 / (2 * (1 - p)))
    assert phase_signal(np.array([True, False]), 0.5).tolist() == [1.0, -1.0]


@pytest.mark.parametrize("process", [Telegraph(10, 2.5), Renewal(3, 9, 0.3), Paired(5, 15), IID(0.8),
                                     Periodic(6, 2, offset=None)])
def test_processes_occupy_plus_with_their_p_plus(process):
    phases = process.sample(200_000, np.random.default_rng(0))
    assert phases.shape == (200_000,) and phases.dtype == bool
    assert phases.mean() == pytest.approx(process.p_plus, abs=0.01)


def test_telegraph_durations_are_geometric_with_the_given_means():
    phases = Telegraph(8.0, 3.0).sample(400_000, np.random.default_rng(2))
    edges = np.flatnonzero(np.diff(phases.astype(int))) + 1
    runs = np.diff(edges)
    kinds = phases[edges[:-1]]
    assert runs[kinds].mean() == pytest.approx(8.0, rel=0.03)
    assert runs[~kinds].mean() == pytest.approx(3.0, rel=0.03)


def test_periodic_free_phase_first_and_paired_balance():
    assert Periodic(2, 3).sample(10, np.random.default_rng(0)).astype(int).tolist() == [0, 0, 0, 1, 1] * 2
    seq = Paired(4, 4).sample(800, np.random.default_rng(3))
    lengths = np.diff(np.flatnonzero(np.diff(seq.astype(int))) + 1)
    assert set(lengths) <= {4, 8}  # runs of 4, or 8 when two pairs meet with the same phase


@pytest.mark.parametrize("make, key", [(lambda: Telegraph(0.5, 2), "mean_plus"), (lambda: IID(1.0), "p"),
                                       (lambda: Renewal(5, 2), "hi"), (lambda: Periodic(0, 3), "plus")])
def test_bad_phase_parameters_name_the_key(make, key):
    with pytest.raises(ConfigError, match=key):
        make()
