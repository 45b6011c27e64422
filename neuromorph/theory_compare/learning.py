r"""Discrete learning beside the per-mode ODEs: exact population GD and SGD through the torch rules.

*Population.* Matrix population GD :math:`X_{k+1} = X_k - \eta E[G_X]` with the Stein closed
forms (:func:`neuromorph.theory.population_gd`), at ``lr`` and at ``2 lr``. Its per-mode
trajectory deviates from the ODE by :math:`O(\eta)` (Euler), so the ratio of the two
deviations is about 2 (`tests/test_theory_compare.py`).

*SGD.* The same student is a :func:`neuromorph.linear_rate.linear_network_spec` network
trained with the package's rules on sampled :math:`x_t \sim \mathcal N(0, I)`, the loss at
the final step, through the shared training step (:class:`neuromorph.engine.Session`) and the torch SGD
optimizer: BPTT, tBPTT-1 (``BPTT(truncation=1)``), RFLO (``decay = λ``) and symmetric
e-prop (``RFLO(feedback=SYMMETRIC, decay="jacobian")``). e-prop is run in the bases with
:math:`P = I`, where it equals BPTT (Williams, Payeur & Lajoie 2026, docs/theory.md), and compared with the BPTT ODE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from neuromorph.engine import Session
from neuromorph.linear_rate import as_linear_rnn, as_parameters, feedback_tensor, linear_network_spec
from neuromorph.network import NetworkSpec
from neuromorph.plasticity import BPTT, RFLO, Feedback, OptimizerName, OptimizerSpec
from neuromorph.tasks.linear_teacher import teacher_batch
from neuromorph.theory import (
    AlignedBases,
    ModeFeedback,
    ModeTrajectory,
    RFLOFeedback,
    Rule,
    aligned_feedback,
    aligned_rnn,
    LinearRNN,
    integrate_mode_odes,
    max_relative_deviation,
    mode_trajectory,
    off_diagonal_leakage,
    population_gd,
    random_bases,
)
from neuromorph.errors import TheoryError
from neuromorph.theory_compare.bounds import opposed_modes
from neuromorph.theory_compare.card import CompareCard
from neuromorph.types import LossKind

#: rule label -> (theory rule of its ODE, package rule factory taking the RFLO decay)
RULES = {
    "bptt": (Rule.BPTT, lambda decay: BPTT()),
    "tbptt1": (Rule.TBPTT1, lambda decay: BPTT(truncation=1)),
    "rflo": (Rule.RFLO, lambda decay: RFLO(decay=decay)),
    "eprop": (Rule.BPTT, lambda decay: RFLO(feedback=Feedback.SYMMETRIC, decay="jacobian")),
}
POPULATION_RULES = ("bptt", "tbptt1", "rflo")


@dataclass(frozen=True)
class Learned:
    """One rule's discrete trajectory, its ODE at the same times, and their deviation."""

    rule: str
    kind: str  #: "population" or "sgd"
    lr: float
    simulated: ModeTrajectory
    ode: ModeTrajectory
    deviation: float
    deviation_2lr: float | None = None  #: population only: the deviation at twice the learning rate
    leakage: float = 0.0  #: largest off-diagonal entry in the shared bases (population: ~1e-15)

    @property
    def ratio(self) -> float | None:
        """deviation(2η)/deviation(η), ≈ 2 for an O(η) error."""
        return None if self.deviation_2lr is None else self.deviation_2lr / self.deviation


def aligned_setup(card: CompareCard, identity_p: bool = False) -> tuple[AlignedBases, ModeFeedback, RFLOFeedback]:
    n = card.modes.n
    bases = random_bases(n, n, n, np.random.default_rng(card.modes.seed))
    if identity_p:
        bases = AlignedBases(P=np.eye(n), U=bases.U, V=bases.V)
    a_hat = np.array(card.rflo.a_hat)
    mode_fb = ModeFeedback(a_hat, np.full(n, card.rflo.decay))
    return bases, mode_fb, RFLOFeedback(aligned_feedback(bases, a_hat, np.zeros(n)).A_hat, card.rflo.decay)


def _ode(card: CompareCard, rule: Rule, t: np.ndarray, mode_fb: ModeFeedback) -> ModeTrajectory:
    return integrate_mode_odes(rule, card.modes.student, card.modes.teacher, t,
                               mode_fb if rule is Rule.RFLO else None)


def population_learning(card: CompareCard, rule_name: str) -> Learned:
    """Matrix population GD at ``lr`` and ``2 lr`` against the ODE."""
    spec, (rule, _) = card.population, RULES[rule_name]
    bases, mode_fb, feedback = aligned_setup(card)
    student, teacher = aligned_rnn(card.modes.student, bases), aligned_rnn(card.modes.teacher, bases)
    runs = {}
    for factor in (1, 2):
        lr, every = spec.lr * factor, max(1, spec.record_every // factor)
        steps = int(round(spec.t_end / lr))
        snaps = _population_gd(card, rule, student, teacher, lr, steps, feedback, every)
        runs[factor] = mode_trajectory(snaps, bases, lr * every * np.arange(len(snaps)))
        if factor == 1:
            leakage = max(off_diagonal_leakage(s, bases) for s in snaps)
    devs = {f: max_relative_deviation(traj, _ode(card, rule, traj.t, mode_fb)) for f, traj in runs.items()}
    return Learned(rule_name, "population", spec.lr, runs[1], _ode(card, rule, runs[1].t, mode_fb), devs[1],
                   devs[2], leakage)


def _population_gd(card: CompareCard, rule: Rule, student, teacher, lr: float, steps: int, feedback, every: int):
    """:func:`population_gd`; an RFLO student made unstable by a mode whose feedback sign opposes its
    readout is reported as that (leaving the aligned subspace), not as a learning-rate problem."""
    try:
        return population_gd(rule, student, teacher, lr, steps, feedback, record_every=every)
    except TheoryError as exc:
        opposed = opposed_modes((card.modes.student_a, card.modes.teacher_a), card.rflo.a_hat)
        if rule is not Rule.RFLO or not opposed:
            raise
        raise TheoryError(f"RFLO left the aligned subspace and made the student unstable (lr = {lr}): mode(s) "
                          f"{opposed} have feedback a_hat opposite in sign to the readout a, where the modes' "
                          "decoupling is unstable sideways; give a_hat the sign of a (a lower learning rate does "
                          f"not help) [{exc}]") from None


def sgd_learning(card: CompareCard, rule_name: str, progress: bool = False) -> Learned:
    """SGD through the torch backend's rule interface, float64, against the ODE."""
    spec, (theory_rule, make_rule) = card.sgd, RULES[rule_name]
    bases, mode_fb, feedback = aligned_setup(card, identity_p=rule_name == "eprop")
    n = card.modes.n
    iterations = int(round(spec.t_end / spec.lr))
    snaps, steps = train_linear_sgd(
        linear_network_spec(n, n, n), make_rule(card.rflo.decay), aligned_rnn(card.modes.student, bases),
        aligned_rnn(card.modes.teacher, bases), feedback.A_hat, lr=spec.lr, iterations=iterations,
        batch_size=spec.batch_size, n_steps=spec.n_steps, seed=spec.seed, record_every=spec.record_every,
        progress=progress, desc=f"sgd {rule_name}",
    )
    simulated = mode_trajectory(snaps, bases, spec.lr * steps)
    ode = _ode(card, theory_rule, simulated.t, mode_fb)
    leakage = max(off_diagonal_leakage(s, bases) for s in snaps)
    return Learned(rule_name, "sgd", spec.lr, simulated, ode, max_relative_deviation(simulated, ode), None, leakage)


def train_linear_sgd(
    net: NetworkSpec, rule: BPTT | RFLO, start: LinearRNN, teacher: LinearRNN, A_hat: np.ndarray, *, lr: float,
    iterations: int, batch_size: int, n_steps: int, seed: int, record_every: int | None = None,
    progress: bool = False, desc: str = "sgd",
) -> tuple[list[LinearRNN], np.ndarray]:
    r"""Train ``start`` on ``teacher`` by SGD on :math:`x_t \sim \mathcal N(0, I)` through ``rule``, loss at the
    last step, feedback :math:`\hat A^\top`. Returns the snapshots at iteration 0, every ``record_every``
    iterations (``None``: only the last), and their iteration indices."""
    session = Session.create(net, rule, LossKind.REGRESSION, OptimizerSpec(OptimizerName.SGD, lr=lr),
                             as_parameters(start), feedback_tensor(A_hat), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    every = record_every or iterations
    snaps, steps = [start], [0]
    for it in tqdm(range(1, iterations + 1), disable=not progress, desc=desc, unit="it", leave=False):
        x = torch.randn(n_steps, batch_size, net.n_in, generator=gen, dtype=torch.float64)
        session.step(teacher_batch(teacher, x))
        if it % every == 0:
            snaps.append(as_linear_rnn(session.parameters))
            steps.append(it)
    return snaps, np.array(steps)
