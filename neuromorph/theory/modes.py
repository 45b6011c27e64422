r"""Per-mode coordinates of a data-aligned linear RNN.

Under data alignment (docs/theory.md, setting) the rotated matrices

.. math::

    \bar A = U^\top A P,\qquad \bar B = P^\top B V,\qquad \bar W = P^\top W P

are (rectangular-)diagonal and learning splits into independent scalar modes
:math:`(a_i, b_i, w_i) = (\bar A_{ii}, \bar B_{ii}, \bar W_{ii})`. Their off-diagonal entries
measure how far a network has left the aligned manifold ("leakage").

References
----------
Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026); Williams, Payeur & Lajoie 2026, docs/theory.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuromorph.theory.teacher import AlignedBases, LinearRNN, ModeValues, RFLOFeedback, decay_matrix

__all__ = [
    "ModeTrajectory",
    "feedback_mode_values",
    "mode_trajectory",
    "mode_values",
    "off_diagonal_leakage",
    "rotated_matrices",
]


@dataclass(frozen=True, eq=False)
class ModeTrajectory:
    """Per-mode parameters over learning time: ``t`` (k,), ``a``, ``b``, ``w`` each (k, n_modes).

    Time is in units of ``eta * steps`` (the learning-flow limit of docs/theory.md, notation).
    """

    t: np.ndarray
    a: np.ndarray
    b: np.ndarray
    w: np.ndarray

    def at(self, index: int) -> ModeValues:
        """Mode values at sample ``index``."""
        return ModeValues(a=self.a[index], b=self.b[index], w=self.w[index])


def rotated_matrices(
    params: LinearRNN, bases: AlignedBases
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Return :math:`(U^\top A P,\ P^\top B V,\ P^\top W P)`."""
    P, U, V = bases.P, bases.U, bases.V
    return U.T @ params.A @ P, P.T @ params.B @ V, P.T @ params.W @ P


def _padded_diagonal(M: np.ndarray, n: int) -> np.ndarray:
    """Diagonal of a rectangular matrix, zero-padded to length n."""
    out = np.zeros(n)
    d = np.diagonal(M)
    out[: len(d)] = d
    return out


def mode_values(params: LinearRNN, bases: AlignedBases) -> ModeValues:
    r"""Per-mode triplets :math:`a_i = (U^\top A P)_{ii}`, :math:`b_i = (P^\top B V)_{ii}`,
    :math:`w_i = (P^\top W P)_{ii}`, each of length n (frozen modes read as 0).

    The result is only a complete description of ``params`` when
    :func:`off_diagonal_leakage` is ~0.
    """
    A_bar, B_bar, W_bar = rotated_matrices(params, bases)
    n = W_bar.shape[0]
    return ModeValues(
        a=_padded_diagonal(A_bar, n), b=_padded_diagonal(B_bar, n), w=np.diagonal(W_bar).copy()
    )


def _max_off_diagonal(M: np.ndarray) -> float:
    off = M.copy()
    k = min(M.shape)
    off[np.arange(k), np.arange(k)] = 0.0
    return float(np.max(np.abs(off))) if off.size else 0.0


def off_diagonal_leakage(params: LinearRNN, bases: AlignedBases) -> float:
    r"""Largest absolute off-diagonal entry of :math:`U^\top A P`, :math:`P^\top B V`, :math:`P^\top W P`.

    Zero (to rounding) exactly when ``params`` satisfies Assumption 1 in ``bases`` (docs/theory.md, setting;
    check 3 of §6).
    """
    return max(_max_off_diagonal(M) for M in rotated_matrices(params, bases))


def feedback_mode_values(
    feedback: RFLOFeedback, bases: AlignedBases
) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-mode RFLO substitutes :math:`\hat a_i = (U^\top \hat A P)_{ii}` and
    :math:`\hat w_i = (P^\top D P)_{ii}` (docs/theory.md, setting; "Meaning of â and ŵ")."""
    n = bases.P.shape[0]
    a_hat = _padded_diagonal(bases.U.T @ feedback.A_hat @ bases.P, n)
    w_hat = np.diagonal(bases.P.T @ decay_matrix(feedback.decay, n) @ bases.P).copy()
    return a_hat, w_hat


def mode_trajectory(
    snapshots: Sequence[LinearRNN], bases: AlignedBases, times: np.ndarray
) -> ModeTrajectory:
    """Mode values of each parameter snapshot (e.g. from SGD or matrix population GD)."""
    values = [mode_values(p, bases) for p in snapshots]
    return ModeTrajectory(
        t=np.asarray(times, dtype=float),
        a=np.array([v.a for v in values]),
        b=np.array([v.b for v in values]),
        w=np.array([v.w for v in values]),
    )
