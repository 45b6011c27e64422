r"""Student–teacher setup for the theory of local learning in linear RNNs.

Student and teacher are linear recurrent networks driven by the same white input,

.. math::

    h_{t+1} = W h_t + B x_t,\qquad y_{t+1} = A h_{t+1},\qquad
    h^*_{t+1} = W^* h^*_t + B^* x_t,\qquad y^*_{t+1} = A^* h^*_{t+1},

with :math:`x_t \sim \mathcal N(0, I_m)` i.i.d. and :math:`h_0 = h^*_0 = 0`.
*Data alignment* (Assumptions 1 and 2) means that both networks are diagonal in shared
orthogonal bases :math:`(P, U, V)`:

.. math::

    W = P \bar W P^\top,\quad A = U \bar A P^\top,\quad B = P \bar B V^\top,

with :math:`\bar W` diagonal and :math:`\bar A, \bar B` rectangular-diagonal. A teacher is
merely *mode-aligned* when it has such a decomposition in bases of its own.

References
----------
Williams, Payeur, Lajoie, "Dynamics and Representation Structure of Local Approximations to
Gradient-Based Learning in Linear Recurrent Neural Networks", arXiv:2606.00243 (ICML 2026),
docs/theory.md (the student-teacher model and its alignment assumptions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromorph.errors import TheoryError

__all__ = [
    "AlignedBases",
    "LinearRNN",
    "ModeValues",
    "RFLOFeedback",
    "StudentTeacher",
    "aligned_feedback",
    "aligned_rnn",
    "data_aligned_setup",
    "decay_matrix",
    "mode_aligned_setup",
    "random_bases",
    "random_linear_rnn",
    "random_mode_values",
    "random_orthogonal",
    "rectangular_diag",
    "spectral_radius",
    "validate_feedback",
    "validate_rnn",
    "validate_student_teacher",
]


@dataclass(frozen=True, eq=False)
class LinearRNN:
    """Parameters of a linear RNN: readout ``A`` (o, n), input ``B`` (n, m), recurrence ``W`` (n, n)."""

    A: np.ndarray
    B: np.ndarray
    W: np.ndarray

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(n, m, o)``: hidden, input and output dimension."""
        return self.W.shape[0], self.B.shape[1], self.A.shape[0]


@dataclass(frozen=True, eq=False)
class AlignedBases:
    """Orthogonal singular bases: ``P`` (n, n) hidden, ``U`` (o, o) output, ``V`` (m, m) input."""

    P: np.ndarray
    U: np.ndarray
    V: np.ndarray


@dataclass(frozen=True, eq=False)
class ModeValues:
    """Per-mode signed singular values ``(a_i, b_i, w_i)``, each of length n.

    Entries ``a_i`` with ``i >= min(o, n)`` and ``b_i`` with ``i >= min(n, m)`` must be zero:
    those modes are frozen (docs/theory.md, setting).
    """

    a: np.ndarray
    b: np.ndarray
    w: np.ndarray


@dataclass(frozen=True, eq=False)
class StudentTeacher:
    """A student, its teacher, and the bases each is diagonal in (``None`` if not aligned)."""

    student: LinearRNN
    teacher: LinearRNN
    student_bases: AlignedBases | None = None
    teacher_bases: AlignedBases | None = None


@dataclass(frozen=True, eq=False)
class RFLOFeedback:
    r"""RFLO's fixed substitutes: feedback ``A_hat`` (o, n) and eligibility-trace decay ``decay``.

    ``decay`` is a scalar :math:`\lambda` (:math:`D = \lambda I`), a per-neuron vector ``d``
    (:math:`D = \mathrm{diag}(d)`), or a full (n, n) matrix ``D`` (closed forms only; used for a
    data-aligned :math:`D = P\,\mathrm{diag}(\hat w) P^\top`). docs/theory.md, setting.
    """

    A_hat: np.ndarray
    decay: float | np.ndarray


def decay_matrix(decay: float | np.ndarray, n: int) -> np.ndarray:
    """The (n, n) trace-decay matrix ``D`` for a scalar, per-neuron vector or matrix ``decay``."""
    d = np.asarray(decay, dtype=float)
    if d.ndim == 0:
        return float(d) * np.eye(n)
    if d.shape == (n,):
        return np.diag(d)
    if d.shape == (n, n):
        return d
    raise TheoryError(
        f"RFLO decay has shape {d.shape}; pass a scalar, a length-{n} vector or an ({n}, {n}) matrix."
    )


def validate_feedback(feedback: RFLOFeedback, n: int, o: int) -> np.ndarray:
    """Check ``A_hat`` is (o, n) and finite and ``rho(D) < 1``; return the decay matrix ``D``.

    Raises
    ------
    TheoryError
        On a shape mismatch, non-finite entries, or a trace decay with spectral radius >= 1.
    """
    A_hat = np.asarray(feedback.A_hat)
    if A_hat.shape != (o, n):
        raise TheoryError(
            f"RFLO feedback A_hat has shape {A_hat.shape} but the student needs (o, n) = {(o, n)}."
        )
    D = decay_matrix(feedback.decay, n)
    if not (np.all(np.isfinite(A_hat)) and np.all(np.isfinite(D))):
        raise TheoryError("RFLO feedback contains NaN or Inf; pass finite A_hat and decay.")
    rho = spectral_radius(D)
    if rho >= 1.0:
        raise TheoryError(
            f"RFLO trace decay has spectral radius {rho:.6g} >= 1, so the eligibility traces never "
            "forget; use decay values with |d| < 1."
        )
    return D


def aligned_feedback(bases: AlignedBases, a_hat: np.ndarray, w_hat: np.ndarray) -> RFLOFeedback:
    r"""Data-aligned RFLO feedback: :math:`\hat A = U\,\mathrm{diag}(\hat a) P^\top`,
    :math:`D = P\,\mathrm{diag}(\hat w) P^\top` (docs/theory.md, setting; "Meaning of â and ŵ")."""
    n, o = bases.P.shape[0], bases.U.shape[0]
    A_hat = bases.U @ rectangular_diag(a_hat, (o, n)) @ bases.P.T
    D = bases.P @ np.diag(np.broadcast_to(np.asarray(w_hat, dtype=float), (n,))) @ bases.P.T
    return RFLOFeedback(A_hat=A_hat, decay=D)


def spectral_radius(W: np.ndarray) -> float:
    r"""Spectral radius :math:`\rho(W) = \max_i |\lambda_i(W)|`."""
    return float(np.max(np.abs(np.linalg.eigvals(W)))) if W.size else 0.0


def validate_rnn(params: LinearRNN, *, name: str = "network") -> tuple[int, int, int]:
    """Check shapes, finiteness and stability of one linear RNN; return ``(n, m, o)``.

    Raises
    ------
    TheoryError
        If a matrix is not 2-D or not finite, if ``W`` is not square, if ``A``/``B`` do not match
        the hidden dimension of ``W``, or if the spectral radius of ``W`` is >= 1 (the infinite-
        horizon loss of docs/theory.md, setting, and the Stein series there then diverge).
    """
    for label, M in (("A", params.A), ("B", params.B), ("W", params.W)):
        M = np.asarray(M)
        if M.ndim != 2:
            raise TheoryError(
                f"{name}: {label} must be a 2-D matrix, got shape {M.shape}; "
                "pass A as (o, n), B as (n, m) and W as (n, n)."
            )
        if not np.all(np.isfinite(M)):
            raise TheoryError(f"{name}: {label} contains NaN or Inf; pass finite weights.")
    n = params.W.shape[0]
    if params.W.shape != (n, n):
        raise TheoryError(f"{name}: W must be square (n, n), got shape {params.W.shape}.")
    if params.A.shape[1] != n or params.B.shape[0] != n:
        raise TheoryError(
            f"{name}: inconsistent dimensions: W is {params.W.shape}, A is {params.A.shape}, "
            f"B is {params.B.shape}; A needs {n} columns and B needs {n} rows."
        )
    rho = spectral_radius(params.W)
    if rho >= 1.0:
        raise TheoryError(
            f"{name}: spectral radius of W is {rho:.6g} >= 1, so the T -> infinity loss and the "
            "population gradients diverge; rescale W (e.g. W *= 0.9 / rho) so that rho(W) < 1."
        )
    return params.W.shape[0], params.B.shape[1], params.A.shape[0]


def validate_student_teacher(student: LinearRNN, teacher: LinearRNN) -> tuple[int, int, int]:
    """Validate both networks and that they share input and output dimensions; return ``(n, m, o)``.

    The teacher's hidden dimension may differ from the student's.

    Raises
    ------
    TheoryError
        See :func:`validate_rnn`; also if ``m`` or ``o`` of student and teacher differ.
    """
    n, m, o = validate_rnn(student, name="student")
    _, m_t, o_t = validate_rnn(teacher, name="teacher")
    if (m, o) != (m_t, o_t):
        raise TheoryError(
            f"student has input/output dims (m, o) = {(m, o)} but the teacher has {(m_t, o_t)}; "
            "student and teacher must read the same input and produce the same output."
        )
    return n, m, o


def random_orthogonal(k: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed random orthogonal (k, k) matrix (QR of a Gaussian with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((k, k)))
    return q * np.sign(np.diag(r))


def random_bases(n: int, m: int, o: int, rng: np.random.Generator) -> AlignedBases:
    """Independent Haar-random orthogonal bases ``P`` (n), ``U`` (o), ``V`` (m)."""
    return AlignedBases(
        P=random_orthogonal(n, rng), U=random_orthogonal(o, rng), V=random_orthogonal(m, rng)
    )


def rectangular_diag(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rectangular-diagonal matrix of ``shape`` with ``values[:min(shape)]`` on the diagonal.

    Raises
    ------
    TheoryError
        If an entry beyond ``min(shape)`` is non-zero (it cannot be represented).
    """
    values = np.asarray(values, dtype=float)
    k = min(shape)
    if np.any(values[k:] != 0.0):
        raise TheoryError(
            f"mode values {values} do not fit a rectangular-diagonal {shape} matrix: entries "
            f"beyond index {k - 1} must be 0 (those modes are frozen at zero)."
        )
    out = np.zeros(shape)
    out[np.arange(k), np.arange(k)] = values[:k]
    return out


def aligned_rnn(modes: ModeValues, bases: AlignedBases) -> LinearRNN:
    r"""Build :math:`(A, B, W) = (U\bar A P^\top, P\bar B V^\top, P\bar W P^\top)` from mode values."""
    n, o, m = bases.P.shape[0], bases.U.shape[0], bases.V.shape[0]
    if not (len(modes.a) == len(modes.b) == len(modes.w) == n):
        raise TheoryError(
            f"mode values must have length n = {n} (the hidden size of P), got "
            f"{len(modes.a)}, {len(modes.b)}, {len(modes.w)}."
        )
    A = bases.U @ rectangular_diag(modes.a, (o, n)) @ bases.P.T
    B = bases.P @ rectangular_diag(modes.b, (n, m)) @ bases.V.T
    W = bases.P @ np.diag(np.asarray(modes.w, dtype=float)) @ bases.P.T
    return LinearRNN(A=A, B=B, W=W)


def random_mode_values(
    n: int,
    m: int,
    o: int,
    rng: np.random.Generator,
    *,
    w_max: float = 0.8,
    magnitude: tuple[float, float] = (0.5, 1.5),
) -> ModeValues:
    """Random signed mode values: ``w ~ U(-w_max, w_max)``, ``|a|, |b| ~ U(magnitude)``, random signs.

    Entries of frozen modes (``a_i`` for ``i >= min(o, n)``, ``b_i`` for ``i >= min(n, m)``) are 0.
    """
    if not 0.0 <= w_max < 1.0:
        raise TheoryError(f"w_max = {w_max} must lie in [0, 1) so that every |w_i| < 1.")

    def signed(k: int) -> np.ndarray:
        return rng.uniform(*magnitude, size=k) * rng.choice([-1.0, 1.0], size=k)

    a = np.zeros(n)
    b = np.zeros(n)
    a[: min(o, n)] = signed(min(o, n))
    b[: min(m, n)] = signed(min(m, n))
    return ModeValues(a=a, b=b, w=rng.uniform(-w_max, w_max, size=n))


def data_aligned_setup(
    n: int, m: int, o: int, rng: np.random.Generator, *, w_max: float = 0.8
) -> StudentTeacher:
    """Student and teacher diagonal in the same random bases (Assumptions 1 and 2 with P = P*, ...)."""
    bases = random_bases(n, m, o, rng)
    student = aligned_rnn(random_mode_values(n, m, o, rng, w_max=w_max), bases)
    teacher = aligned_rnn(random_mode_values(n, m, o, rng, w_max=w_max), bases)
    validate_student_teacher(student, teacher)
    return StudentTeacher(student, teacher, student_bases=bases, teacher_bases=bases)


def mode_aligned_setup(
    n: int, m: int, o: int, rng: np.random.Generator, *, w_max: float = 0.8
) -> StudentTeacher:
    """Student and teacher each diagonal in their own independent random bases (merely mode-aligned)."""
    s_bases, t_bases = random_bases(n, m, o, rng), random_bases(n, m, o, rng)
    student = aligned_rnn(random_mode_values(n, m, o, rng, w_max=w_max), s_bases)
    teacher = aligned_rnn(random_mode_values(n, m, o, rng, w_max=w_max), t_bases)
    validate_student_teacher(student, teacher)
    return StudentTeacher(student, teacher, student_bases=s_bases, teacher_bases=t_bases)


def random_linear_rnn(
    n: int, m: int, o: int, rng: np.random.Generator, *, radius: float = 0.8
) -> LinearRNN:
    """Non-aligned Gaussian linear RNN with ``W`` rescaled to spectral radius ``radius`` (< 1).

    ``A`` and ``B`` have i.i.d. ``N(0, 1/n)`` and ``N(0, 1/m)`` entries.
    """
    if not 0.0 <= radius < 1.0:
        raise TheoryError(f"radius = {radius} must lie in [0, 1) for a stable network.")
    W = rng.standard_normal((n, n))
    W *= radius / max(spectral_radius(W), np.finfo(float).tiny)
    A = rng.standard_normal((o, n)) / np.sqrt(n)
    B = rng.standard_normal((n, m)) / np.sqrt(m)
    return LinearRNN(A=A, B=B, W=W)
