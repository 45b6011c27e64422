r"""Stationary manifolds, linear stability and asymptotic convergence rates of the mode ODEs.

Stationary sets (docs/theory.md §2, with :math:`p^* \neq 0`, :math:`\hat a \neq 0`, all :math:`|w| < 1`):

* :math:`M_{\rm opt} = \{w = w^*,\ ab = p^*\}` for every rule (the global optimum, two branches);
* :math:`M_0 = \{a = b = 0\}` for BPTT and tBPTT-1 only (a saddle line); RFLO has
  :math:`\dot b = \hat a p^* \hat C^* \neq 0` there.

At a point of :math:`M_{\rm opt}`, :math:`K = -J` has the eigenvalue 0 along the manifold and two
others, roots of :math:`\lambda^2 - \mathrm{tr}\,\lambda + s_2 = 0` (docs/theory.md §2):

.. math::

    \text{BPTT:}\ \ \mathrm{tr} &= (a^2+b^2)S + a^2b^2(1+w^2)S^3,\quad s_2 = (a^2+b^2)a^2b^2S^4\\
    \text{tBPTT-1:}\ \ \mathrm{tr} &= b^2S + a^2 + a^2b^2S^2,\quad s_2 = (a^2+b^2)a^2b^2S^2\\
    \text{RFLO:}\ \ \mathrm{tr} &= b^2S + \hat a a\hat C + \hat a a b^2 \hat C S(S + w\hat w\hat C),
        \quad s_2 = \hat a a b^2 \hat C^2 S^2 (b^2 + \hat a a)

and the distance to the manifold decays like :math:`e^{-\lambda_{\min} t}` with
:math:`\lambda_{\min} = \mathrm{Re}\,(\mathrm{tr} - \sqrt{\mathrm{tr}^2 - 4 s_2})/2` (docs/theory.md §3).

References
----------
Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026); Williams, Payeur & Lajoie 2026, docs/theory.md
(derived there, status [D]).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from neuromorph.errors import TheoryError
from neuromorph.theory.population import Rule

__all__ = [
    "RULES_WITH_ZERO_MANIFOLD",
    "convergence_rate",
    "finite_difference_jacobian",
    "fit_decay_rate",
    "lambda_min",
    "manifold_distance",
    "optimum_point",
    "stability_invariants",
    "stability_matrix",
    "zero_manifold_eigenvalues",
]

#: Rules whose stationary set contains the non-optimal line a = b = 0 (docs/theory.md §2).
RULES_WITH_ZERO_MANIFOLD = frozenset({Rule.BPTT, Rule.TBPTT1})


def optimum_point(a: float, a_star: float, b_star: float, w_star: float) -> np.ndarray:
    r"""The point :math:`(a,\ p^*/a,\ w^*)` of :math:`M_{\rm opt}` parameterised by ``a != 0``."""
    if a == 0:
        raise TheoryError("M_opt has no point with a = 0 when p* != 0; pick a != 0.")
    return np.array([a, a_star * b_star / a, w_star])


def manifold_distance(a, b, w, a_star, b_star, w_star) -> np.ndarray:
    r"""Distance proxy to :math:`M_{\rm opt}`: :math:`|w - w^*| + |ab - a^*b^*|` (tests/theory)."""
    return np.abs(w - w_star) + np.abs(a * b - a_star * b_star)


def zero_manifold_eigenvalues(rule: Rule, p_star: float, w: float, w_star: float) -> np.ndarray:
    r"""Eigenvalues of the Jacobian :math:`J` at :math:`(0, 0, w) \in M_0`, sorted ascending.

    BPTT: :math:`\{-|p^*|C, 0, |p^*|C\}`; tBPTT-1: :math:`\{-|p^*|\sqrt C, 0, |p^*|\sqrt C\}`,
    :math:`C = 1/(1 - w w^*)` (docs/theory.md §2).

    Raises
    ------
    TheoryError
        For RFLO, which has no stationary line at a = b = 0.
    """
    C = 1.0 / (1.0 - w * w_star)
    table: dict[Rule, float] = {Rule.BPTT: abs(p_star) * C, Rule.TBPTT1: abs(p_star) * np.sqrt(C)}
    if rule not in table:
        raise TheoryError(f"{rule.name} has no stationary line a = b = 0 (docs/theory.md §2).")
    lam = table[rule]
    return np.array([-lam, 0.0, lam])


def _bptt_K(a: float, b: float, w: float, _ah: float, _wh: float) -> np.ndarray:
    S = 1.0 / (1.0 - w * w)
    return np.array(
        [
            [b * b * S, a * b * S, a * b * b * w * S**2],
            [a * b * S, a * a * S, a * a * b * w * S**2],
            [a * b * b * w * S**2, a * a * b * w * S**2, a * a * b * b * (1 + w * w) * S**3],
        ]
    )


def _tbptt1_K(a: float, b: float, w: float, _ah: float, _wh: float) -> np.ndarray:
    S = 1.0 / (1.0 - w * w)
    return np.array(
        [
            [b * b * S, a * b * S, a * b * b * w * S**2],
            [a * b, a * a, 0.0],
            [a * b * b * w * S, a * a * b * w * S, a * a * b * b * S**2],
        ]
    )


def _rflo_K(a: float, b: float, w: float, ah: float, wh: float) -> np.ndarray:
    S, Ch = 1.0 / (1.0 - w * w), 1.0 / (1.0 - wh * w)
    return np.array(
        [
            [b * b * S, a * b * S, a * b * b * w * S**2],
            [ah * b * Ch, ah * a * Ch, ah * a * b * wh * Ch**2],
            [ah * b * b * w * Ch * S, ah * a * b * w * Ch * S, ah * a * b * b * Ch * S * (S + w * wh * Ch)],
        ]
    )


_K: dict[Rule, Callable[[float, float, float, float, float], np.ndarray]] = {
    Rule.BPTT: _bptt_K,
    Rule.TBPTT1: _tbptt1_K,
    Rule.RFLO: _rflo_K,
}


def stability_matrix(
    rule: Rule, a: float, b: float, w: float, a_hat: float = 0.0, w_hat: float = 0.0
) -> np.ndarray:
    r"""Analytic :math:`K = -J` of the mode ODE at the point :math:`(a, b, w)` of :math:`M_{\rm opt}`.

    The point must lie on :math:`M_{\rm opt}`, i.e. ``w`` is the teacher's :math:`w^*` and
    ``a*b`` is :math:`p^*`; ``a_hat``, ``w_hat`` are used by RFLO only (docs/theory.md §2).
    """
    return _K[rule](a, b, w, a_hat, w_hat)


def _bptt_inv(a: float, b: float, w: float, _ah: float, _wh: float) -> tuple[float, float]:
    S = 1.0 / (1.0 - w * w)
    tr = (a * a + b * b) * S + a * a * b * b * (1 + w * w) * S**3
    return tr, (a * a + b * b) * a * a * b * b * S**4


def _tbptt1_inv(a: float, b: float, w: float, _ah: float, _wh: float) -> tuple[float, float]:
    S = 1.0 / (1.0 - w * w)
    return b * b * S + a * a + a * a * b * b * S**2, (a * a + b * b) * a * a * b * b * S**2


def _rflo_inv(a: float, b: float, w: float, ah: float, wh: float) -> tuple[float, float]:
    S, Ch = 1.0 / (1.0 - w * w), 1.0 / (1.0 - wh * w)
    tr = b * b * S + ah * a * Ch + ah * a * b * b * Ch * S * (S + w * wh * Ch)
    return tr, ah * a * b * b * Ch**2 * S**2 * (b * b + ah * a)


_INVARIANTS: dict[Rule, Callable[[float, float, float, float, float], tuple[float, float]]] = {
    Rule.BPTT: _bptt_inv,
    Rule.TBPTT1: _tbptt1_inv,
    Rule.RFLO: _rflo_inv,
}


def stability_invariants(
    rule: Rule, a: float, b: float, w: float, a_hat: float = 0.0, w_hat: float = 0.0
) -> tuple[float, float]:
    r"""Closed-form ``(tr, s2)`` of :math:`K` at :math:`(a, b, w) \in M_{\rm opt}` (docs/theory.md §2).

    ``s2`` is the sum of the principal 2x2 minors; :math:`\det K = 0`. The point is (normally)
    stable iff ``tr > 0`` and ``s2 > 0``.
    """
    return _INVARIANTS[rule](a, b, w, a_hat, w_hat)


def lambda_min(tr: float, s2: float) -> float:
    r""":math:`\mathrm{Re}\,(\mathrm{tr} - \sqrt{\mathrm{tr}^2 - 4 s_2})/2`, the slower non-zero eigenvalue of K.

    Evaluated as :math:`2 s_2 / (\mathrm{tr} + \sqrt{\mathrm{tr}^2 - 4 s_2})` when the roots are real
    and ``tr > 0``, which avoids cancellation for slow modes (:math:`s_2 \ll \mathrm{tr}^2`);
    ``tr / 2`` when the roots are complex.
    """
    disc = tr * tr - 4.0 * s2
    if disc < 0.0:
        return float(tr / 2.0)
    root = float(np.sqrt(disc))
    return float(2.0 * s2 / (tr + root)) if tr > 0.0 else float((tr - root) / 2.0)


def convergence_rate(
    rule: Rule, a: float, b: float, w_star: float, a_hat: float = 0.0, w_hat: float = 0.0
) -> float:
    r"""Asymptotic rate :math:`\lambda_{\min}` at the optimum :math:`(a, b, w^*)` (docs/theory.md §3)."""
    return lambda_min(*stability_invariants(rule, a, b, w_star, a_hat, w_hat))


def finite_difference_jacobian(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = 1e-6
) -> np.ndarray:
    r"""Central-difference Jacobian :math:`J_{ij} \approx (f_i(x + h e_j) - f_i(x - h e_j)) / 2h`.

    Truncation error :math:`O(h^2)`, rounding error :math:`O(\epsilon / h)`.
    """
    x = np.asarray(x, dtype=float)
    cols = []
    for j in range(x.size):
        step = np.zeros_like(x)
        step[j] = h
        cols.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2.0 * h))
    return np.stack(cols, axis=-1)


def fit_decay_rate(
    t: np.ndarray, distance: np.ndarray, lower: float = 1e-9, upper: float = 1e-4
) -> float:
    r"""Exponential decay rate :math:`\lambda` from a least-squares fit of
    :math:`\log d(t) = c - \lambda t` over samples with ``lower <= d <= upper`` (tests/theory/test_theory_stability.py).

    Raises
    ------
    TheoryError
        If fewer than 3 samples fall in the window.
    """
    t, distance = np.asarray(t, dtype=float), np.asarray(distance, dtype=float)
    keep = (distance >= lower) & (distance <= upper)
    if np.count_nonzero(keep) < 3:
        raise TheoryError(
            f"only {np.count_nonzero(keep)} samples with {lower} <= distance <= {upper}; "
            "integrate longer or sample more densely."
        )
    slope, _ = np.polyfit(t[keep], np.log(distance[keep]), 1)
    return float(-slope)
