r"""Linear student–teacher regression: reproduce a random mode-aligned linear RNN.

The teacher (Williams, Payeur & Lajoie 2026, docs/theory.md, Assumption 2) is
:math:`h^*_{t+1} = W^* h^*_t + B^* x_t`, :math:`y^*_{t+1} = A^* h^*_{t+1}` with
:math:`W^* = P\bar W^* P^\top`, :math:`A^* = U\bar A^* P^\top`, :math:`B^* = P\bar B^* V^\top`,
random orthogonal bases and random signed mode values (:func:`neuromorph.theory.random_mode_values`,
:math:`|w^*_i| \le` ``w_max``). Inputs are i.i.d. :math:`x_t \sim \mathcal N(0, I_m)`. The loss is
on the last step (``loss_at = "final"``, the theory's setting) or on every step.

References
----------
Williams, Payeur & Lajoie, arXiv:2606.00243 (2026), §2 (student–teacher setup).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real
from neuromorph.theory.teacher import (
    AlignedBases,
    LinearRNN,
    ModeValues,
    aligned_rnn,
    random_bases,
    random_mode_values,
)

__all__ = ["LinearTeacherTask", "teacher_batch"]

LOSS_AT = ("final", "every")


@dataclass(frozen=True)
class LinearTeacherTask:
    """Regress the output of a seeded random mode-aligned linear teacher.

    Parameters
    ----------
    n_in, n_out, n_hidden : int
        Input (m), output (o) and teacher hidden (n) dimensions, >= 1.
    n_steps : int
        Steps per trial T; the truncation :math:`|w^*|^T` of the infinite past is the only bias.
    loss_at : str
        ``"final"`` or ``"every"``.
    w_max : float
        Largest teacher eigenvalue modulus, in [0, 1).
    seed : int
        Seed of the teacher (``numpy.random.default_rng``), >= 0.
    """

    n_in: int = 3
    n_out: int = 3
    n_hidden: int = 3
    n_steps: int = 30
    loss_at: str = "final"
    w_max: float = 0.8
    seed: int = 0
    dt: float = 1.0
    loss: LossKind = field(default=LossKind.REGRESSION, init=False)

    def __post_init__(self) -> None:
        for name in ("n_in", "n_out", "n_hidden", "n_steps"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise invalid("LinearTeacherTask", name, value, "a positive integer")
        if self.loss_at not in LOSS_AT:
            raise invalid("LinearTeacherTask", "loss_at", self.loss_at, f"one of {LOSS_AT}")
        if not is_real(self.w_max) or not 0 <= self.w_max < 1:
            raise invalid("LinearTeacherTask", "w_max", self.w_max, "a number in [0, 1) (a stable teacher)")
        if not is_int(self.seed) or self.seed < 0:
            raise invalid("LinearTeacherTask", "seed", self.seed, "an integer >= 0")
        if not is_real(self.dt) or self.dt != 1.0:
            raise invalid("LinearTeacherTask", "dt", self.dt, "1.0 (the linear theory is in steps)")

    @cached_property
    def _draw(self) -> tuple[ModeValues, AlignedBases]:
        """Drawn once per task object (a pure function of ``seed`` and the sizes)."""
        rng = np.random.default_rng(self.seed)
        bases = random_bases(self.n_hidden, self.n_in, self.n_out, rng)
        return random_mode_values(self.n_hidden, self.n_in, self.n_out, rng, w_max=self.w_max), bases

    @property
    def teacher_modes(self) -> ModeValues:
        """The teacher's signed singular values :math:`(a^*_i, b^*_i, w^*_i)`."""
        return self._draw[0]

    @property
    def teacher_bases(self) -> AlignedBases:
        """The teacher's singular bases :math:`(P, U, V)`."""
        return self._draw[1]

    @property
    def teacher(self) -> LinearRNN:
        """The teacher's matrices."""
        return aligned_rnn(*self._draw)

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """``x ~ N(0, I)`` from ``generator`` (float64), teacher targets, last-step or all-step mask."""
        x = torch.randn(self.n_steps, batch_size, self.n_in, generator=generator, dtype=torch.float64)
        return self.batch(x)

    def batch(self, inputs: torch.Tensor) -> TrialBatch:
        """Targets and mask for given time-major inputs (T, B, m), e.g. an impulse basis."""
        return teacher_batch(self.teacher, inputs, self.loss_at)


def teacher_batch(teacher: LinearRNN, inputs: torch.Tensor, loss_at: str = "final") -> TrialBatch:
    """Run ``teacher`` on time-major ``inputs`` (T, B, m): :math:`y^*_t = A^* h^*_t`, with a mask on
    the last step (``"final"``) or on every step (``"every"``)."""
    A, B, W = (torch.as_tensor(M, dtype=inputs.dtype) for M in (teacher.A, teacher.B, teacher.W))
    h = torch.zeros(inputs.shape[1], W.shape[0], dtype=inputs.dtype)
    ys = []
    for x_t in inputs:
        h = h @ W.T + x_t @ B.T
        ys.append(h @ A.T)
    mask = torch.zeros(inputs.shape[0], inputs.shape[1], dtype=inputs.dtype)
    if loss_at == "final":
        mask[-1] = 1.0
    else:
        mask[:] = 1.0
    return TrialBatch(inputs, torch.stack(ys), mask)
