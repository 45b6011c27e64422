r"""Rank restriction of RFLO updates, and a small SGD simulator to test it.

Every RFLO increment of ``W`` or ``B`` has the form :math:`\hat A^\top e \otimes (\text{trace})`,
and :math:`\hat A^\top e = \sum_i e_i r_i` with :math:`r_i` the rows of :math:`\hat A`. Hence, for
any data, batch size, learning-rate schedule and simultaneous learning of ``A``,

.. math::

    X_k - X_0 = \sum_{i=1}^{o} r_i q_i^\top,\qquad X \in \{W, B\},

so :math:`\mathrm{colspace}(X_k - X_0) \subseteq \mathrm{span}\{r_i\}` and the rank is at most
``o``. This needs a fixed :math:`\hat A`, one scalar trace decay for all neurons (including 0), and
linear units; heterogeneous decays, nonlinear units and BPTT break it (negative controls).

References
----------
Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026), poster statement;
Williams, Payeur & Lajoie 2026, docs/theory.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromorph.errors import NonFiniteError, TheoryError
from neuromorph.theory.population import Activation, Gradients, Rule, algorithm_gradients
from neuromorph.theory.teacher import LinearRNN, RFLOFeedback, decay_matrix, validate_rnn

__all__ = [
    "RankDiagnostics",
    "SGDRun",
    "feedback_residual",
    "linear_sequence_gradients",
    "numerical_rank",
    "rank_diagnostics",
    "sgd_train",
    "singular_values",
]


@dataclass(frozen=True, eq=False)
class RankDiagnostics:
    """Singular values (descending), numerical rank, and residual outside the feedback span."""

    singular_values: np.ndarray
    rank: int
    residual: float


@dataclass(frozen=True, eq=False)
class SGDRun:
    """Parameter snapshots of an SGD run and the step index of each."""

    snapshots: list[LinearRNN]
    steps: np.ndarray


def singular_values(delta: np.ndarray) -> np.ndarray:
    """Singular values of an update ``delta = X_k - X_0``, descending."""
    return np.linalg.svd(np.asarray(delta, dtype=float), compute_uv=False)


def numerical_rank(delta: np.ndarray, rtol: float = 1e-9) -> int:
    r"""Number of singular values :math:`> \mathrm{rtol} \cdot \sigma_{\max}` (0 for a zero matrix)."""
    s = singular_values(delta)
    if s.size == 0 or s[0] == 0.0:
        return 0
    return int(np.count_nonzero(s > rtol * s[0]))


def feedback_residual(delta: np.ndarray, A_hat: np.ndarray) -> float:
    r""":math:`\lVert (I - P_{\hat A})\,\Delta \rVert_F / \lVert \Delta \rVert_F`, with
    :math:`P_{\hat A}` the orthogonal projector onto the span of the rows of :math:`\hat A`.

    Raises
    ------
    TheoryError
        If ``delta`` is zero (the ratio is undefined) or its row count differs from ``A_hat``'s
        column count.
    """
    delta, A_hat = np.asarray(delta, dtype=float), np.asarray(A_hat, dtype=float)
    if delta.shape[0] != A_hat.shape[1]:
        raise TheoryError(
            f"update has {delta.shape[0]} rows but A_hat has {A_hat.shape[1]} columns; pass "
            "delta = W_k - W_0 (n, n) or B_k - B_0 (n, m) with A_hat (o, n)."
        )
    norm = np.linalg.norm(delta)
    if norm == 0.0:
        raise TheoryError("the update is exactly zero; run some learning steps first.")
    u, s, _ = np.linalg.svd(A_hat.T, full_matrices=False)
    basis = u[:, s > 1e-12 * max(s.max(initial=0.0), np.finfo(float).tiny)]
    residual = delta - basis @ (basis.T @ delta)
    return float(np.linalg.norm(residual) / norm)


def rank_diagnostics(delta: np.ndarray, A_hat: np.ndarray, rtol: float = 1e-9) -> RankDiagnostics:
    """All three rank-restriction diagnostics of docs/theory.md §4; tests/theory/test_theory_rank.py for one update."""
    return RankDiagnostics(
        singular_values=singular_values(delta),
        rank=numerical_rank(delta, rtol),
        residual=feedback_residual(delta, A_hat),
    )


def _power_stack(M: np.ndarray, V: np.ndarray, T: int) -> np.ndarray:
    """``[M^k V for k in range(T)]`` as a (T, *V.shape) array, by repeated doubling."""
    out = V[None].copy()
    power = M
    while out.shape[0] < T:
        out = np.concatenate([out, power @ out])
        power = power @ power
    return out[:T]


def _error_transport(rule: Rule, student: LinearRNN, feedback: RFLOFeedback | None, T: int):
    """Stack of the per-lag maps N_k with G_X = sum_k N_k e (input at lag k)^T (docs/theory.md, setting table)."""
    A, W = student.A, student.W
    if rule is Rule.RFLO:
        if feedback is None:
            raise TheoryError("RFLO needs an RFLOFeedback(A_hat, decay); pass feedback=...")
        D = decay_matrix(feedback.decay, W.shape[0])
        return _power_stack(D, np.asarray(feedback.A_hat, dtype=float).T, T)
    if rule is Rule.BPTT:
        return _power_stack(W.T, A.T, T)
    out = np.zeros((T, *A.T.shape))
    out[0] = A.T
    return out


def linear_sequence_gradients(
    rule: Rule,
    student: LinearRNN,
    teacher: LinearRNN,
    x: np.ndarray,
    feedback: RFLOFeedback | None = None,
) -> Gradients:
    r"""The docs/theory.md, setting table for linear units, contracted over the batch first; summed over the batch.

    With :math:`M_j = W^j B`, :math:`h_T = \sum_j M_j x_{T-1-j}` and the batch contractions
    :math:`C_l = \sum_{\rm batch} e\, x_{T-1-l}^\top`,

    .. math::

        G_B = \sum_k N_k C_k,\qquad
        G_W = \sum_k N_k \sum_{l > k} C_l M_{l-k-1}^\top \;(= \textstyle\sum_k N_k\, e\, h_{T-1-k}^\top),
        \qquad G_A = e h_T^\top,

    with :math:`N_k = (W^\top)^k A^\top` (BPTT), :math:`N_0 = A^\top, N_{k>0} = 0` (tBPTT-1),
    :math:`N_k = D^k \hat A^\top` (RFLO, any decay matrix D). Equal to the step-by-step
    algorithms of :mod:`neuromorph.theory.population` to rounding, with no Python loop over time;
    used by :func:`sgd_train` for linear units.
    """
    x = np.asarray(x, dtype=float)
    batch, T, m = x.shape
    n = student.W.shape[0]
    x_rev = x[:, ::-1].reshape(batch, T * m)  # block l holds x_{T-1-l}
    M = _power_stack(student.W, student.B, T)  # (T, n, m)
    M_star = teacher.A @ _power_stack(teacher.W, teacher.B, T)  # (T, o, m)
    h_T = x_rev @ M.transpose(0, 2, 1).reshape(T * m, n)
    e = h_T @ student.A.T - x_rev @ M_star.transpose(0, 2, 1).reshape(T * m, -1)
    C = (e.T @ x_rev).reshape(-1, T, m)  # (o, T, m): C[:, l] = e^T x_{T-1-l}
    shift = np.arange(T)[:, None] - np.arange(T)[None, :] - 1  # shift[l, k] = l - k - 1
    blocks = np.where((shift >= 0)[:, :, None, None], M[np.clip(shift, 0, None)].transpose(0, 1, 3, 2), 0.0)
    e_h = (C.reshape(-1, T * m) @ blocks.transpose(0, 2, 1, 3).reshape(T * m, T * n)).reshape(-1, T, n)
    N = _error_transport(rule, student, feedback, T)  # (T, n, o)
    G_B = np.einsum("kio,okj->ij", N, C)
    G_W = np.einsum("kio,okj->ij", N, e_h)
    return Gradients(A=e.T @ h_T, B=G_B, W=G_W)


def sgd_train(
    rule: Rule,
    student: LinearRNN,
    teacher: LinearRNN,
    rng: np.random.Generator,
    *,
    steps: int,
    lr: float,
    batch: int,
    T: int,
    feedback: RFLOFeedback | None = None,
    activation: Activation = Activation.LINEAR,
    learn_A: bool = True,
    record_every: int | None = None,
) -> SGDRun:
    r"""Online SGD on the final-step loss with fresh Gaussian inputs every step.

    Each step draws :math:`x \in \mathbb R^{\text{batch} \times T \times m}` i.i.d.
    :math:`\mathcal N(0, 1)` from ``rng``, computes the update of ``rule`` averaged over the batch
    (linear units: :func:`linear_sequence_gradients`, any decay; tanh units: the step-by-step
    :func:`~neuromorph.theory.population.algorithm_gradients`, scalar or per-neuron decay), and
    applies :math:`X \leftarrow X - \eta G_X` (``A`` frozen if ``learn_A`` is False). The student
    may use tanh units; the teacher is linear.

    Parameters
    ----------
    record_every : int, optional
        Keep a snapshot every this many steps (and at step 0 and the last step). Default: only the
        first and the last.

    Raises
    ------
    TheoryError
        On invalid networks or feedback. NonFiniteError if the parameters overflow.
    """
    validate_rnn(teacher, name="teacher")
    if steps < 1 or batch < 1 or T < 1:
        raise TheoryError(f"steps, batch and T must be >= 1, got {steps}, {batch}, {T}.")
    m = student.B.shape[1]
    every = record_every or steps
    snapshots, recorded = [student], [0]
    current = student
    for step in range(1, steps + 1):
        x = rng.standard_normal((batch, T, m))
        if activation is Activation.LINEAR:
            g = linear_sequence_gradients(rule, current, teacher, x, feedback)
        else:
            g = algorithm_gradients(rule, current, teacher, x, feedback, activation)
        scale = lr / batch
        current = LinearRNN(
            A=current.A - scale * g.A if learn_A else current.A,
            B=current.B - scale * g.B,
            W=current.W - scale * g.W,
        )
        if not all(np.all(np.isfinite(M)) for M in (current.A, current.B, current.W)):
            raise NonFiniteError(f"SGD diverged at step {step} (lr = {lr}); lower the learning rate.")
        if step % every == 0 or step == steps:
            snapshots.append(current)
            recorded.append(step)
    return SGDRun(snapshots=snapshots, steps=np.asarray(recorded))
