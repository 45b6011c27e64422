r"""Data behind the theory figures (docs/theory.md, figures): stationary manifolds and rates.

Pure numpy; :mod:`neuromorph.plots.theory` only draws what these functions return.

* :func:`manifold_points` samples :math:`M_{\rm opt} = \{w = w^*, ab = a^*b^*\}` and classifies each
  point with the closed-form stability invariants of docs/theory.md §2 (stable iff ``tr > 0`` and
  ``s2 > 0``).
* :func:`rates_vs_w_star` evaluates the asymptotic rate :math:`\lambda_{\min}` of docs/theory.md §3 at the balanced
  optimum along a grid of teacher eigenvalues :math:`w^*`.

References
----------
Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026); Williams, Payeur & Lajoie 2026, docs/theory.md.
"""

from __future__ import annotations

import numpy as np

from neuromorph.errors import TheoryError
from neuromorph.theory.population import Rule
from neuromorph.theory.stability import convergence_rate, optimum_point, stability_invariants

__all__ = [
    "RULE_LABELS",
    "manifold_points",
    "rates_vs_w_star",
]

#: Display names of the rules, in the row order of the figures.
RULE_LABELS: dict[Rule, str] = {Rule.BPTT: "BPTT", Rule.TBPTT1: "tBPTT-1", Rule.RFLO: "RFLO"}


def manifold_points(
    rule: Rule,
    teacher_mode: tuple[float, float, float],
    a_hat: float,
    w_hat: float,
    a_grid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Points :math:`(a, p^*/a, w^*)` of :math:`M_{\rm opt}` and whether each is stable (docs/theory.md §2).

    Parameters
    ----------
    teacher_mode : (a*, b*, w*)
        One teacher mode, :math:`p^* = a^* b^* \ne 0`, :math:`|w^*| < 1`.
    a_hat, w_hat : float
        RFLO feedback singular value and trace decay (ignored by BPTT and tBPTT-1).
    a_grid : array
        Non-zero readout values ``a`` parameterising the hyperbola (both branches allowed).

    Returns
    -------
    points : (k, 3) array
        Rows ``(a, b, w)`` on the manifold.
    stable_mask : (k,) bool array
        ``tr > 0 and s2 > 0`` of :func:`~neuromorph.theory.stability.stability_invariants`; False
        marks a saddle (or a degenerate point).

    Raises
    ------
    TheoryError
        If ``p* = 0``, ``|w*| >= 1``, or ``a_grid`` contains 0.
    """
    a_star, b_star, w_star = (float(v) for v in teacher_mode)
    if a_star * b_star == 0.0 or abs(w_star) >= 1.0:
        raise TheoryError(
            f"teacher mode {teacher_mode} needs a* b* != 0 and |w*| < 1 for M_opt to be a hyperbola."
        )
    a_grid = np.asarray(a_grid, dtype=float).ravel()
    if np.any(a_grid == 0.0):
        raise TheoryError("a_grid contains a = 0, where M_opt has no point; drop it from the grid.")
    points = np.array([optimum_point(a, a_star, b_star, w_star) for a in a_grid]).reshape(-1, 3)
    stable = np.array(
        [_is_stable(*stability_invariants(rule, a, b, w, a_hat, w_hat)) for a, b, w in points], dtype=bool
    )
    return points, stable


def _is_stable(tr: float, s2: float) -> bool:
    return bool(tr > 0.0 and s2 > 0.0)


def rates_vs_w_star(
    w_star: np.ndarray,
    a_hat: float | np.ndarray = 1.0,
    w_hat: float | np.ndarray = 0.5,
    *,
    a: float = 1.0,
    b: float = 1.0,
) -> dict[str, np.ndarray]:
    r"""Asymptotic convergence rate :math:`\lambda_{\min}` against :math:`w^*` for each rule (docs/theory.md §3).

    Evaluated at the optimum :math:`(a, b, w^*)` (default the balanced point a = b = 1, so
    :math:`p^* = 1`). ``a_hat`` and ``w_hat`` may be sequences (broadcast together): one RFLO curve
    per pair. Keys: ``"BPTT"``, ``"tBPTT-1"``, ``"RFLO â=…, ŵ=…"``.

    Raises
    ------
    TheoryError
        If a grid value has ``|w*| >= 1`` or an RFLO pair has ``|ŵ| >= 1``.
    """
    w_star = np.asarray(w_star, dtype=float).ravel()
    pairs = np.broadcast_arrays(np.atleast_1d(np.asarray(a_hat, float)), np.atleast_1d(np.asarray(w_hat, float)))
    if np.any(np.abs(w_star) >= 1.0) or np.any(np.abs(pairs[1]) >= 1.0):
        raise TheoryError("rates need |w*| < 1 on the whole grid and |ŵ| < 1; trim the grid.")
    out = {
        RULE_LABELS[rule]: np.array([convergence_rate(rule, a, b, ws) for ws in w_star])
        for rule in (Rule.BPTT, Rule.TBPTT1)
    }
    for ah, wh in zip(*pairs):
        out[f"RFLO â={ah:g}, ŵ={wh:g}"] = np.array([convergence_rate(Rule.RFLO, a, b, ws, ah, wh) for ws in w_star])
    return out
