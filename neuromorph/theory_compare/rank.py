r"""The rank restriction of RFLO, measured on networks trained by the package's torch rules.

Every RFLO increment is :math:`\hat A^\top \delta_t \otimes E_t`, so
:math:`W_k - W_0 = \sum_i r_i q_i^\top` lies in the span of the o feedback columns
whenever the trace decay is one scalar and the units are linear (Williams, Payeur & Lajoie 2026, docs/theory.md,
check 11). The negative controls break one condition each: a per-neuron decay,
tanh units, and BPTT; their updates have rank above o.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromorph.dynamics import Activation
from neuromorph.linear_rate import linear_network_spec
from neuromorph.plasticity import BPTT, RFLO
from neuromorph.theory import numerical_rank, random_linear_rnn, rank_diagnostics, singular_values
from neuromorph.theory_compare.card import RankSpec
from neuromorph.theory_compare.learning import train_linear_sgd


@dataclass(frozen=True)
class RankVariant:
    """One row of the rank table."""

    label: str
    restricted: bool  #: whether the theory predicts rank <= o
    sv_w: np.ndarray  #: singular values of W_k - W_0
    sv_b: np.ndarray  #: singular values of B_k - B_0
    rank_w: int
    rank_b: int
    residual_w: float  #: ||(I - P_Â)(W_k - W_0)|| / ||W_k - W_0||


def _variants(spec: RankSpec, rng: np.random.Generator) -> dict[str, tuple[object, Activation, bool]]:
    per_neuron = tuple(float(d) for d in rng.uniform(-0.5, 0.9, spec.n))
    return {
        f"RFLO λ={spec.decay:g}": (RFLO(decay=spec.decay), Activation.LINEAR, True),
        "RFLO λ=0": (RFLO(decay=0.0), Activation.LINEAR, True),
        "RFLO per-neuron λ_i": (RFLO(decay=per_neuron), Activation.LINEAR, False),
        f"RFLO λ={spec.decay:g}, tanh units": (RFLO(decay=spec.decay), Activation.TANH, False),
        "BPTT": (BPTT(), Activation.LINEAR, False),
    }


def rank_restriction(spec: RankSpec) -> list[RankVariant]:
    """Train each variant by SGD from the same non-aligned start and report the update's rank."""
    rng = np.random.default_rng(spec.seed)
    student = random_linear_rnn(spec.n, spec.m, spec.o, rng, radius=0.7)
    teacher = random_linear_rnn(spec.n, spec.m, spec.o, rng, radius=0.8)
    A_hat = rng.standard_normal((spec.o, spec.n)) / np.sqrt(spec.n)
    out = []
    for label, (rule, activation, restricted) in _variants(spec, rng).items():
        snaps, _ = train_linear_sgd(
            linear_network_spec(spec.n, spec.m, spec.o, activation=activation), rule, student, teacher, A_hat,
            lr=spec.lr, iterations=spec.steps, batch_size=spec.batch_size, n_steps=spec.n_steps, seed=spec.seed,
        )
        dW, dB = snaps[-1].W - student.W, snaps[-1].B - student.B
        diag = rank_diagnostics(dW, A_hat)
        out.append(RankVariant(label, restricted, singular_values(dW), singular_values(dB), diag.rank,
                               numerical_rank(dB), diag.residual))
    return out
