r"""Population (expected) gradients of BPTT, tBPTT-1 and RFLO, and the algorithms themselves.

Loss at the final step only, :math:`L = \tfrac12 \lVert y_T - y^*_T\rVert^2`, error
:math:`e = y_T - y^*_T`, update :math:`X \leftarrow X - \eta G_X` (docs/theory.md, setting):

BPTT:
    :math:`G_B = \sum_k (W^\top)^k A^\top e\, x_{T-1-k}^\top`,
    :math:`G_W = \sum_k (W^\top)^k A^\top e\, h_{T-1-k}^\top`;
tBPTT-1:
    :math:`G_B = A^\top e\, x_{T-1}^\top`, :math:`G_W = A^\top e\, h_{T-1}^\top`;
RFLO:
    :math:`G_B = \sum_k D^k \hat A^\top e\, x_{T-1-k}^\top`,
    :math:`G_W = \sum_k D^k \hat A^\top e\, h_{T-1-k}^\top`;
all rules:
    :math:`G_A = e\, h_T^\top`.

For :math:`x_t \sim \mathcal N(0, I)` and :math:`T \to \infty` the expectations are closed forms in
solutions of Stein equations :math:`X = \mathrm{stein}(L, R, Q) \Leftrightarrow X = L X R + Q`:

.. math::

    \Sigma = \mathrm{stein}(W, W^\top, BB^\top),\quad X = \mathrm{stein}(W^*, W^\top, B^*B^\top),\\
    Y_1 = \mathrm{stein}(W^\top, W, A^\top A),\quad Y_2 = \mathrm{stein}(W^\top, W^*, A^\top A^*),\\
    Z_1 = \mathrm{stein}(D, W, \hat A^\top A),\quad Z_2 = \mathrm{stein}(D, W^*, \hat A^\top A^*),\\
    E[G_A] = A\Sigma - A^*X,\quad
    E[G_B^{\rm BPTT}] = Y_1 B - Y_2 B^*,\quad E[G_W^{\rm BPTT}] = Y_1 W\Sigma - Y_2 W^* X,\\
    E[G_B^{\rm tBPTT1}] = A^\top(AB - A^*B^*),\quad E[G_W^{\rm tBPTT1}] = A^\top(AW\Sigma - A^*W^*X),\\
    E[G_B^{\rm RFLO}] = Z_1 B - Z_2 B^*,\quad E[G_W^{\rm RFLO}] = Z_1 W\Sigma - Z_2 W^* X.

Every update is bilinear in the input sequence, so its exact expectation over white input is the
sum of the updates over the ``T*m`` unit impulses (:func:`impulse_basis`).

References
----------
Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026); Williams, Payeur & Lajoie 2026, docs/theory.md.
Murray, "Local online learning in recurrent networks with random feedback", eLife 8:e43299 (2019).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neuromorph.errors import TheoryError
from neuromorph.theory.teacher import (
    LinearRNN,
    RFLOFeedback,
    validate_feedback,
    validate_student_teacher,
)

__all__ = [
    "Activation",
    "Gradients",
    "Rule",
    "algorithm_gradients",
    "bptt_gradients",
    "impulse_basis",
    "population_gradients",
    "rflo_gradients",
    "run_network",
    "stein",
    "tbptt1_gradients",
]


class Rule(enum.Enum):
    """Learning rule of docs/theory.md, setting."""

    BPTT = enum.auto()
    TBPTT1 = enum.auto()
    RFLO = enum.auto()


class Activation(enum.Enum):
    """Unit nonlinearity of the student, :math:`h_{t+1} = \\phi(W h_t + B x_t)`."""

    LINEAR = enum.auto()
    TANH = enum.auto()


@dataclass(frozen=True, eq=False)
class Gradients:
    """Update directions ``G_A`` (o, n), ``G_B`` (n, m), ``G_W`` (n, n); learning does X -= eta G_X."""

    A: np.ndarray
    B: np.ndarray
    W: np.ndarray


def stein(L: np.ndarray, R: np.ndarray, Q: np.ndarray) -> np.ndarray:
    r"""Exact solution of the Stein equation :math:`X = L X R + Q`.

    Solved as :math:`(I - R^\top \otimes L)\,\mathrm{vec}(X) = \mathrm{vec}(Q)` (column-major
    vec), a dense ``(p q) x (p q)`` linear solve, exact to rounding for ``Q`` of shape (p, q).
    When :math:`\rho(L)\rho(R) < 1` the solution is the series :math:`\sum_k L^k Q R^k`.
    Cost :math:`O((pq)^3)`: meant for the small networks of the theory checks.
    """
    p, q = Q.shape
    K = -(R.T[:, None, :, None] * L[None, :, None, :]).reshape(p * q, p * q)
    K.flat[:: p * q + 1] += 1.0
    try:
        vec = np.linalg.solve(K, Q.T.reshape(-1))
    except np.linalg.LinAlgError as exc:
        raise TheoryError(
            "Stein equation X = L X R + Q is singular (an eigenvalue product of L and R equals 1); "
            "keep the spectral radii of W, W* and D below 1."
        ) from exc
    return vec.reshape(q, p).T


def _covariances(student: LinearRNN, teacher: LinearRNN) -> tuple[np.ndarray, np.ndarray]:
    """Student covariance Sigma and teacher–student cross-covariance X (T -> infinity)."""
    W, B = student.W, student.B
    sigma = stein(W, W.T, B @ B.T)
    cross = stein(teacher.W, W.T, teacher.B @ B.T)
    return sigma, cross


def _bptt_population(student: LinearRNN, teacher: LinearRNN, _D: None, _A_hat: None) -> Gradients:
    A, B, W = student.A, student.B, student.W
    sigma, cross = _covariances(student, teacher)
    Y1 = stein(W.T, W, A.T @ A)
    Y2 = stein(W.T, teacher.W, A.T @ teacher.A)
    return Gradients(
        A=A @ sigma - teacher.A @ cross,
        B=Y1 @ B - Y2 @ teacher.B,
        W=Y1 @ W @ sigma - Y2 @ teacher.W @ cross,
    )


def _tbptt1_population(student: LinearRNN, teacher: LinearRNN, _D: None, _A_hat: None) -> Gradients:
    A, B, W = student.A, student.B, student.W
    sigma, cross = _covariances(student, teacher)
    return Gradients(
        A=A @ sigma - teacher.A @ cross,
        B=A.T @ (A @ B - teacher.A @ teacher.B),
        W=A.T @ (A @ W @ sigma - teacher.A @ teacher.W @ cross),
    )


def _rflo_population(student: LinearRNN, teacher: LinearRNN, D: np.ndarray, A_hat: np.ndarray) -> Gradients:
    A, B, W = student.A, student.B, student.W
    sigma, cross = _covariances(student, teacher)
    Z1 = stein(D, W, A_hat.T @ A)
    Z2 = stein(D, teacher.W, A_hat.T @ teacher.A)
    return Gradients(
        A=A @ sigma - teacher.A @ cross,
        B=Z1 @ B - Z2 @ teacher.B,
        W=Z1 @ W @ sigma - Z2 @ teacher.W @ cross,
    )


_POPULATION: dict[Rule, Callable[..., Gradients]] = {
    Rule.BPTT: _bptt_population,
    Rule.TBPTT1: _tbptt1_population,
    Rule.RFLO: _rflo_population,
}


def population_gradients(
    rule: Rule,
    student: LinearRNN,
    teacher: LinearRNN,
    feedback: RFLOFeedback | None = None,
    *,
    validate: bool = True,
) -> Gradients:
    r"""Closed-form expected update :math:`E[G]` of ``rule`` for :math:`T \to \infty` (module docstring).

    Parameters
    ----------
    rule : Rule
        BPTT, TBPTT1 or RFLO.
    student, teacher : LinearRNN
        Current student and fixed teacher (teacher hidden size may differ).
    feedback : RFLOFeedback, optional
        Required for RFLO (``A_hat`` and decay ``D``, any of scalar / vector / matrix); ignored
        otherwise.
    validate : bool
        Check shapes and spectral radii (< 1) first. Turn off only inside loops that validate
        their endpoints.

    Raises
    ------
    TheoryError
        On invalid dimensions, spectral radius >= 1, or RFLO without feedback.
    """
    n, _, o = student.dims
    if validate:
        n, _, o = validate_student_teacher(student, teacher)
    D = A_hat = None
    if rule is Rule.RFLO:
        if feedback is None:
            raise TheoryError("RFLO needs an RFLOFeedback(A_hat, decay); pass feedback=...")
        D = validate_feedback(feedback, n, o)
        A_hat = np.asarray(feedback.A_hat, dtype=float)
    return _POPULATION[rule](student, teacher, D, A_hat)


def impulse_basis(T: int, m: int) -> np.ndarray:
    r"""All ``T*m`` unit-impulse input sequences, shape ``(T*m, T, m)``.

    For any update :math:`G(x)` bilinear in the input sequence :math:`x` and
    :math:`x_t \sim \mathcal N(0, I_m)` i.i.d., :math:`E[G(x)] = \sum_{s} G(\delta_s)` over these
    sequences, because :math:`E[x x^\top] = I` (docs/theory.md, setting). The gradient functions below sum
    over the batch axis, so passing this basis returns the exact expectation at horizon ``T``.
    """
    return np.eye(T * m).reshape(T * m, T, m)


_PHI: dict[Activation, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    Activation.LINEAR: (lambda u: u, np.ones_like),
    Activation.TANH: (np.tanh, lambda u: 1.0 - np.tanh(u) ** 2),
}


def run_network(
    params: LinearRNN, x: np.ndarray, activation: Activation = Activation.LINEAR
) -> tuple[np.ndarray, np.ndarray]:
    r"""Run :math:`u_{t+1} = W h_t + B x_t`, :math:`h_{t+1} = \phi(u_{t+1})`, :math:`h_0 = 0`.

    Parameters
    ----------
    x : ndarray, shape (batch, T, m)
        ``x[:, t]`` is :math:`x_t`, t = 0..T-1.

    Returns
    -------
    h, u : ndarray, shape (T + 1, batch, n), time-major
        ``h[t]`` is :math:`h_t` (``h[0] = 0``); ``u[t]`` the pre-activation (``u[0] = 0``).
    """
    phi, _ = _PHI[activation]
    batch, T, _ = x.shape
    n = params.W.shape[0]
    h = np.zeros((T + 1, batch, n))
    u = np.zeros((T + 1, batch, n))
    drive = np.ascontiguousarray(np.swapaxes(x @ params.B.T, 0, 1))
    W_T = params.W.T.copy()
    for t in range(T):
        u[t + 1] = h[t] @ W_T + drive[t]
        h[t + 1] = phi(u[t + 1])
    return h, u


def _forward(student: LinearRNN, teacher: LinearRNN, x: np.ndarray, activation: Activation):
    """Time-major input (T, batch, m), student states/pre-activations, final error e = y_T - y*_T."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 3 or x.shape[2] != student.B.shape[1]:
        raise TheoryError(
            f"input x has shape {x.shape}; pass (batch, T, m) with m = {student.B.shape[1]}."
        )
    h, u = run_network(student, x, activation)
    h_star, _ = run_network(teacher, x, Activation.LINEAR)
    e = h[-1] @ student.A.T - h_star[-1] @ teacher.A.T
    return np.ascontiguousarray(np.swapaxes(x, 0, 1)), h, u, e


def bptt_gradients(
    student: LinearRNN,
    teacher: LinearRNN,
    x: np.ndarray,
    activation: Activation = Activation.LINEAR,
) -> Gradients:
    r"""Exact gradient of :math:`\tfrac12\lVert y_T - y^*_T\rVert^2` by a backward pass, summed over the batch.

    :math:`g_T = \phi'(u_T) \odot A^\top e`, :math:`g_{t-1} = \phi'(u_{t-1}) \odot W^\top g_t`,
    :math:`G_W = \sum_t g_t h_{t-1}^\top`, :math:`G_B = \sum_t g_t x_{t-1}^\top`,
    :math:`G_A = e h_T^\top` (docs/theory.md, setting; BPTT row).
    """
    x, h, u, e = _forward(student, teacher, x, activation)
    _, dphi = _PHI[activation]
    T = x.shape[0]
    g = dphi(u[T]) * (e @ student.A)
    G_W = np.zeros_like(student.W)
    G_B = np.zeros_like(student.B)
    for t in range(T, 0, -1):
        G_W += g.T @ h[t - 1]
        G_B += g.T @ x[t - 1]
        if t > 1:
            g = dphi(u[t - 1]) * (g @ student.W)
    return Gradients(A=e.T @ h[T], B=G_B, W=G_W)


def tbptt1_gradients(
    student: LinearRNN,
    teacher: LinearRNN,
    x: np.ndarray,
    activation: Activation = Activation.LINEAR,
) -> Gradients:
    r"""Gradient through the last transition only, summed over the batch.

    :math:`g_T = \phi'(u_T) \odot A^\top e`, :math:`G_W = g_T h_{T-1}^\top`,
    :math:`G_B = g_T x_{T-1}^\top`, :math:`G_A = e h_T^\top` (docs/theory.md, setting; tBPTT-1 row).
    """
    x, h, u, e = _forward(student, teacher, x, activation)
    _, dphi = _PHI[activation]
    T = x.shape[0]
    g = dphi(u[T]) * (e @ student.A)
    return Gradients(A=e.T @ h[T], B=g.T @ x[T - 1], W=g.T @ h[T - 1])


def rflo_gradients(
    student: LinearRNN,
    teacher: LinearRNN,
    x: np.ndarray,
    feedback: RFLOFeedback,
    activation: Activation = Activation.LINEAR,
) -> Gradients:
    r"""RFLO with online per-synapse eligibility traces, summed over the batch.

    .. math::

        E^W_{ij}(t+1) = d_i E^W_{ij}(t) + \phi'(u_{t+1,i})\, h_{t,j},\qquad
        E^B_{ij}(t+1) = d_i E^B_{ij}(t) + \phi'(u_{t+1,i})\, x_{t,j},\\
        G_{W,ij} = (\hat A^\top e)_i E^W_{ij}(T),\qquad G_{B,ij} = (\hat A^\top e)_i E^B_{ij}(T),
        \qquad G_A = e h_T^\top.

    For linear units this is the RFLO row of docs/theory.md, setting; with a nonlinearity the
    post-synaptic factor sits inside the trace as in Murray (2019), eLife 8:e43299.

    Raises
    ------
    TheoryError
        If ``feedback.decay`` is a full matrix (no online per-synapse trace exists for it; use
        :func:`population_gradients` for closed forms) or has the wrong shape.
    """
    n, _, o = student.dims
    decay = np.asarray(feedback.decay, dtype=float)
    if decay.ndim == 2 or (decay.ndim == 1 and decay.shape != (n,)):
        raise TheoryError(
            f"online RFLO traces need a scalar or per-neuron decay of length {n}, got shape "
            f"{decay.shape}; full decay matrices are only supported by population_gradients."
        )
    d = np.broadcast_to(decay, (n,))[None, :, None]
    x, h, u, e = _forward(student, teacher, x, activation)
    _, dphi = _PHI[activation]
    T, batch, m = x.shape
    E_W = np.zeros((batch, n, n))
    E_B = np.zeros((batch, n, m))
    for t in range(T):
        post = dphi(u[t + 1])[:, :, None]
        E_W = d * E_W + post * h[t][:, None, :]
        E_B = d * E_B + post * x[t][:, None, :]
    signal = e @ np.asarray(feedback.A_hat, dtype=float)  # (batch, n): rows of (A_hat^T e)
    return Gradients(
        A=e.T @ h[T],
        B=np.einsum("bi,bij->ij", signal, E_B),
        W=np.einsum("bi,bij->ij", signal, E_W),
    )


def algorithm_gradients(
    rule: Rule,
    student: LinearRNN,
    teacher: LinearRNN,
    x: np.ndarray,
    feedback: RFLOFeedback | None = None,
    activation: Activation = Activation.LINEAR,
) -> Gradients:
    """Run the actual algorithm of ``rule`` on input sequences ``x`` (batch, T, m); sum over the batch.

    With ``x = impulse_basis(T, m)`` this is the exact expectation at horizon T.

    Raises
    ------
    TheoryError
        For RFLO without ``feedback``.
    """
    if rule is Rule.RFLO:
        if feedback is None:
            raise TheoryError("RFLO needs an RFLOFeedback(A_hat, decay); pass feedback=...")
        return rflo_gradients(student, teacher, x, feedback, activation)
    return _ALGORITHMS[rule](student, teacher, x, activation)


_ALGORITHMS = {Rule.BPTT: bptt_gradients, Rule.TBPTT1: tbptt1_gradients}
