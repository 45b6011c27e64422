r"""The transient shrinkage law of temporally local contrastive learning (Williams, Bredenberg & Lajoie 2023,
docs/contrastive.md; `tests/contrastive/test_kappa.py`).

Linearised relaxation towards the phase's equilibrium, :math:`\dot a = -(a - a^*_{\varphi(t)})/\tau`,
with the linear :math:`g(a) = a`. If plasticity ran only at equilibrium, the drift of the temporally
local rule would be :math:`\tfrac12 (a^*_+ - a^*_-)`. Plasticity during transients shrinks it to

.. math::

    \kappa \cdot \tfrac12 (a^*_+ - a^*_-), \qquad
    \kappa = \frac{1}{1 + \tau (1/T_+ + 1/T_-)} \ \text{(telegraph)}, \qquad
    \kappa = 1 - \frac{2\tanh(T/2\tau)}{T/\tau} \ \text{(periodic, } T_\pm = T\text{)}

without turning it. :func:`measure_kappa` simulates ``runs`` independent networks at once (one
vectorised update per step), each started at the stationary state by a burn-in of ``burn_in``
time units, and integrates :math:`s(t)\,a(t)` exactly over each step (the phase is constant within
a step, so :math:`\int a\,dt` has a closed form); the only discretisation left is the phase switch
times on the ``dt`` grid, an O(dt/T) effect.

Variance reduction: the estimator uses :math:`g(a) = a - b` with the baseline
:math:`b = p_- a^*_+ + p_+ a^*_-`. Since :math:`\mathbb E[s] = p_+ s_+ + p_- s_- = 0`, a constant
baseline leaves the mean drift unchanged; this one cancels, to first order, the noise from the
random occupancy of each run (the number of ``+`` steps), which otherwise dominates the standard
error (0.02 instead of 0.002 at the same simulated time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuromorph.contrastive.phases import importance_weights, predicted_kappa, predicted_kappa_periodic
from neuromorph.errors import ConfigError


@dataclass(frozen=True)
class KappaCase:
    """One configuration: ``process`` is "telegraph" (means T±) or "periodic" (T+ = T- = period)."""

    tau: float
    mean_plus: float
    mean_minus: float
    process: str = "telegraph"

    def __post_init__(self) -> None:
        if self.process not in ("telegraph", "periodic"):
            raise ConfigError(f"kappa case: process must be 'telegraph' or 'periodic', got {self.process!r}")
        if self.process == "periodic" and self.mean_plus != self.mean_minus:
            raise ConfigError("kappa case: the periodic law assumes T+ = T-")
        if not (self.tau > 0 and self.mean_plus > 0 and self.mean_minus > 0):
            raise ConfigError(f"kappa case: tau and the phase lengths must be > 0, got {self}")

    @property
    def predicted(self) -> float:
        if self.process == "periodic":
            return float(predicted_kappa_periodic(self.tau, self.mean_plus))
        return predicted_kappa(self.tau, self.mean_plus, self.mean_minus)

    @property
    def label(self) -> str:
        if self.process == "periodic":
            return f"periodic T={self.mean_plus:g} tau={self.tau:g}"
        return f"telegraph T+={self.mean_plus:g} T-={self.mean_minus:g} tau={self.tau:g}"


#: Williams, Bredenberg & Lajoie 2023, docs/contrastive.md's cases (the check script's table)
THEORY_CASES = (
    KappaCase(0.1, 5.0, 5.0), KappaCase(0.5, 5.0, 5.0), KappaCase(1.0, 5.0, 5.0), KappaCase(2.0, 5.0, 5.0),
    KappaCase(0.2, 10.0, 2.5),
    KappaCase(0.1, 5.0, 5.0, "periodic"), KappaCase(1.0, 5.0, 5.0, "periodic"),
)


@dataclass(frozen=True)
class KappaResult:
    """Measured κ (mean over runs) with its standard error, the prediction and the direction cosine."""

    case: KappaCase
    measured: float
    stderr: float
    cosine: float
    t_total: float  #: summed simulated time over all runs (burn-in excluded)

    @property
    def predicted(self) -> float:
        return self.case.predicted

    @property
    def error(self) -> float:
        return self.measured - self.predicted


def measure_kappa(case: KappaCase, gen: np.random.Generator, *, runs: int = 400, t_run: float = 50.0,
                  dt: float = 0.01, dim: int = 4, burn_in: float | None = None) -> KappaResult:
    """Simulate ``runs`` independent linear relaxations for ``t_run`` each; see the module docstring."""
    burn_in = 10.0 * case.tau + 2.0 * max(case.mean_plus, case.mean_minus) if burn_in is None else burn_in
    n_burn, n = round(burn_in / dt), round(t_run / dt)
    if n < 1:
        raise ConfigError(f"t_run = {t_run} is shorter than one step dt = {dt}")
    a_plus, a_minus = gen.standard_normal(dim), gen.standard_normal(dim)
    p_plus = case.mean_plus / (case.mean_plus + case.mean_minus)
    s_plus, s_minus = importance_weights(p_plus)
    decay = math.exp(-dt / case.tau)
    mean_factor = case.tau * (1.0 - decay) / dt  # (1/dt) ∫_0^dt e^{-t/τ} dt
    if case.process == "periodic":
        period = round(2 * case.mean_plus / dt)
        offset = gen.integers(period, size=runs)
    else:
        leave = np.array([dt / case.mean_minus, dt / case.mean_plus])  # indexed by phase (0 = -, 1 = +)
        phase = gen.random(runs) < p_plus
    baseline = (1.0 - p_plus) * a_plus + p_plus * a_minus
    a = np.where((gen.random(runs) < p_plus)[:, None], a_plus, a_minus)
    drift = np.zeros((runs, dim))
    for t in range(n_burn + n):
        if case.process == "periodic":
            phase = (t + offset) % period < period // 2
        target = np.where(phase[:, None], a_plus, a_minus)
        if t >= n_burn:  # exact mean of a over [t, t + dt] at constant phase
            drift += np.where(phase, s_plus, s_minus)[:, None] * (target - baseline + (a - target) * mean_factor)
        a = target + (a - target) * decay
        if case.process != "periodic":
            phase = phase ^ (gen.random(runs) < leave[phase.astype(int)])
    drift /= n
    half = 0.5 * (a_plus - a_minus)
    per_run = drift @ half / (half @ half)
    mean_drift = drift.mean(axis=0)
    cosine = float(mean_drift @ half / (np.linalg.norm(mean_drift) * np.linalg.norm(half)))
    return KappaResult(case, float(per_run.mean()), float(per_run.std(ddof=1) / math.sqrt(runs)), cosine,
                       runs * t_run)
