"""Theory figures (neuromorph.plots.theory) and their data (neuromorph.theory.figures_data).

Each figure function must write a non-empty PNG quickly; the data helpers are checked against
the theory of docs/theory.md: stability of the RFLO branches (§2), the rates at a = b = 1 (§3) and the
rank restriction (§4).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import neuromorph.plots.theory
from neuromorph.errors import TheoryError
from neuromorph.plots.theory import (
    plot_convergence_rates,
    plot_mode_order,
    plot_mode_trajectories,
    plot_rank_restriction,
    plot_vector_fields,
)
from neuromorph.theory import (
    ModeFeedback,
    ModeValues,
    Rule,
    integrate_mode_odes,
    population_gd_modes,
    stability_invariants,
)
from neuromorph.theory.figures_data import manifold_points, rates_vs_w_star

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEACHER = ModeValues(a=np.array([1.0, -0.8, 1.2]), b=np.array([0.9, 1.1, -0.7]), w=np.array([0.6, -0.5, 0.2]))
STUDENT0 = ModeValues(a=np.array([0.5, -0.6, 0.8]), b=np.array([0.6, 0.8, -0.5]), w=np.array([0.0, 0.3, -0.4]))
FEEDBACK = ModeFeedback(a_hat=np.array([0.8, -1.0, 1.2]), w_hat=np.full(3, 0.5))


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000


def test_plot_mode_trajectories(tmp_path):
    ode, simulated = {}, {}
    for key, rule in (("bptt", Rule.BPTT), ("tbptt1", Rule.TBPTT1), ("rflo", Rule.RFLO)):
        gd = population_gd_modes(rule, STUDENT0, TEACHER, 0.1, 40, FEEDBACK)
        ode[key] = integrate_mode_odes(rule, STUDENT0, TEACHER, gd.t, FEEDBACK)
        simulated[key] = {"population GD": gd}
    simulated["bptt"]["SGD (torch)"] = simulated["bptt"]["population GD"]  # a second kind, own style
    out = plot_mode_trajectories(ode, simulated, TEACHER, tmp_path / "traj.png")
    assert out == tmp_path / "traj.png"
    _assert_png(out)


def test_plot_vector_fields(tmp_path):
    # sparse streamlines keep the test fast; a_slice = -a* puts RFLO's wrong-sign point in the (b, w) plane
    out = plot_vector_fields((1.0, 0.8, 0.5), 1.0, 0.3, tmp_path / "fields.png", a_slice=-1.0, density=0.1)
    _assert_png(out)


def test_plot_rank_restriction(tmp_path):
    # the spectra themselves are checked in test_theory_rank.py (numpy) and test_theory_compare.py (torch)
    spectra = {"RFLO": np.array([1.0, 0.3, 1e-16, 1e-17]), "BPTT": np.array([1.0, 0.5, 0.2, 0.05]),
               "exact zeros": np.array([1.0, 0.5, 0.0, 0.0])}  # drawn at the floor, no log(0)
    _assert_png(plot_rank_restriction(spectra, 2, tmp_path / "rank.png"))


def test_plot_convergence_rates(tmp_path):
    w_star = np.linspace(-0.99, 0.99, 81)
    rates = rates_vs_w_star(w_star, a_hat=[1.0, 0.5], w_hat=[0.5, 0.5])
    assert list(rates) == ["BPTT", "tBPTT-1", "RFLO â=1, ŵ=0.5", "RFLO â=0.5, ŵ=0.5"]
    _assert_png(plot_convergence_rates(w_star, rates, tmp_path / "rates.png"))


def test_plot_mode_order(tmp_path):
    t = np.linspace(0.0, 10.0, 101)
    half = np.array([1.5, 4.0, 6.5])
    losses = 1.0 / (1.0 + np.exp(3.0 * (t[:, None] - half)))  # logistic drops, L(0) ~ 1
    out = plot_mode_order(t, losses, half, half + 0.2, tmp_path / "order.png", modes=np.array([0, 1, 2]))
    _assert_png(out)


# -- data helpers ---------------------------------------------------------------------------------


def test_rflo_manifold_classification_matches_theory():
    """docs/theory.md §2: for â > 0 the branch a > 0 is stable; on a < 0 every point with b² > |â a| is a saddle."""
    teacher_mode, a_hat, w_hat = (1.0, 0.8, 0.5), 1.0, 0.3
    a_grid = np.concatenate([-np.geomspace(3.0, 0.05, 40), np.geomspace(0.05, 3.0, 40)])
    points, stable = manifold_points(Rule.RFLO, teacher_mode, a_hat, w_hat, a_grid)
    a, b, w = points.T
    np.testing.assert_allclose(a * b, 0.8, rtol=1e-14)
    np.testing.assert_array_equal(w, 0.5)
    assert np.all(stable[a > 0])
    saddle = (a < 0) & (b * b > np.abs(a_hat * a))
    assert np.count_nonzero(saddle) >= 15
    assert not np.any(stable[saddle])
    for ai, bi, wi in points[saddle]:  # s2 < 0: one positive and one negative eigenvalue of K
        assert stability_invariants(Rule.RFLO, ai, bi, wi, a_hat, w_hat)[1] < 0
    # flipping the feedback sign flips which branch is stable
    _, stable_neg = manifold_points(Rule.RFLO, teacher_mode, -a_hat, w_hat, a_grid)
    assert np.all(stable_neg[a < 0])
    assert not np.any(stable_neg[(a > 0) & (b * b > np.abs(a_hat * a))])


@pytest.mark.parametrize("rule", [Rule.BPTT, Rule.TBPTT1], ids=lambda r: r.name)
def test_bptt_and_tbptt1_manifolds_are_stable_on_both_branches(rule):
    a_grid = np.array([-2.0, -0.5, -0.1, 0.1, 0.5, 2.0])
    _, stable = manifold_points(rule, (1.2, -0.7, -0.6), 0.0, 0.0, a_grid)
    assert np.all(stable)


def test_manifold_points_rejects_bad_input():
    with pytest.raises(TheoryError, match="a = 0"):
        manifold_points(Rule.RFLO, (1.0, 1.0, 0.5), 1.0, 0.0, np.array([0.0, 1.0]))
    with pytest.raises(TheoryError, match="a\\* b\\* != 0"):
        manifold_points(Rule.BPTT, (0.0, 1.0, 0.5), 1.0, 0.0, np.array([1.0]))


def test_rates_reproduce_the_theory_table():
    """The hand-derived rate table of tests/theory/test_theory_stability.py (a = b = 1, p* = 1), to its 3-4 digits."""
    w_star = np.array([0.0, 0.5, 0.9, 0.99, -0.9])
    rates = rates_vs_w_star(w_star, a_hat=[1.0, 1.0, 0.5, 2.0], w_hat=[0.0, 0.5, 0.5, 0.5])
    table = {
        "BPTT": [1.000, 1.549, 5.711, 50.75, 5.711],
        "tBPTT-1": [1.000, 1.237, 1.718, 1.962, 1.718],
        "RFLO â=1, ŵ=0": [1.000, 1.237, 1.718, 1.962, 1.718],
        "RFLO â=1, ŵ=0.5": [1.000, 1.549, 2.938, 3.848, 1.157],
        "RFLO â=0.5, ŵ=0.5": [0.500, 0.929, 2.069, 2.859, 0.712],
        "RFLO â=2, ŵ=0.5": [2.000, 2.582, 4.551, 5.799, 1.945],
    }
    for label, expected in table.items():
        np.testing.assert_allclose(rates[label], expected, atol=6e-3, err_msg=label)
    with pytest.raises(TheoryError, match="trim the grid"):
        rates_vs_w_star(np.array([0.5, 1.0]))


def test_plots_theory_does_not_import_torch_or_backends():
    """Static check of every import in plots.theory and the theory package (numpy/scipy/matplotlib only)."""
    root = Path(neuromorph.plots.theory.__file__).parent.parent
    for path in [root / "plots" / "theory.py", *sorted((root / "theory").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] != "torch" and not name.startswith("neuromorph.backends"), (path, name)
