r"""Phase processes for temporally local contrastive learning and their importance weights.

A phase process is a sequence :math:`\varphi_t \in \{+, -\}` (``True`` = the nudged / clamped
phase, ``False`` = the free phase). The temporally local rule multiplies the local Hebbian term by
the broadcast signal (Williams, Bredenberg & Lajoie 2023, docs/contrastive.md)

.. math::

    s_t = +\frac{1}{2 p_+} \ \text{if}\ \varphi_t = +, \qquad
    s_t = -\frac{1}{2 p_-} \ \text{if}\ \varphi_t = -,

with :math:`p_\pm` the stationary fraction of time spent in each phase, so that
:math:`\mathbb E[s_t g_t] = \tfrac12(\mathbb E_+[g] - \mathbb E_-[g])` whatever the occupancy.

Processes (all stationary; every draw takes an explicit :class:`numpy.random.Generator`):

* :class:`Periodic` — ``T+`` steps of ``+`` then ``T-`` steps of ``-``, with a given or random offset;
* :class:`Telegraph` — a two-state Markov chain: leave phase ± with probability ``1/T±`` per step
  (geometric durations with means ``T±``);
* :class:`Renewal` — each new phase's type is drawn at random (``+`` with probability ``p_choose``)
  and its duration uniformly from ``[lo, hi]`` steps (Williams et al. 2023, Fig. 1B: random order,
  random lengths);
* :class:`Paired` — a renewal process of phase *pairs*: each pair draws one duration D uniformly
  from ``[lo, hi]`` steps and a random order, then runs D steps of each phase. Durations and order
  are random (no periodicity), but the occupancy of every pair is exactly balanced, which removes
  the occupancy noise :math:`\sum_t s_t \ne 0` of the telegraph process;
* :class:`IID` — a fresh phase at every step, ``+`` with probability ``p``.

Reference: E. Williams, C. Bredenberg, G. Lajoie, "Flexible Phase Dynamics for Bio-Plausible
Contrastive Learning", ICML 2023, arXiv:2302.12431.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromorph.errors import ConfigError
from neuromorph.plasticity.contrastive import importance_weights  # the rule's weights, re-exported here


@dataclass(frozen=True)
class Periodic:
    """``plus`` steps of ``+`` then ``minus`` steps of ``-``; ``offset=None`` draws a random phase."""

    plus: int = 10
    minus: int = 10
    offset: int | None = 0
    first: str = "minus"  #: which phase a period starts with ("minus": free phase first, as classical EP)

    def __post_init__(self) -> None:
        _positive_int(self, "plus", "minus")
        if self.first not in ("plus", "minus"):
            raise ConfigError(f"periodic phases: first must be 'plus' or 'minus', got {self.first!r}")

    @property
    def p_plus(self) -> float:
        return self.plus / (self.plus + self.minus)

    def sample(self, n: int, gen: np.random.Generator) -> np.ndarray:
        period = self.plus + self.minus
        offset = int(gen.integers(period)) if self.offset is None else self.offset
        k = (np.arange(n) + offset) % period
        return k >= self.minus if self.first == "minus" else k < self.plus


@dataclass(frozen=True)
class Telegraph:
    """Two-state Markov chain with mean dwell times ``mean_plus`` and ``mean_minus`` steps (>= 1)."""

    mean_plus: float = 10.0
    mean_minus: float = 10.0

    def __post_init__(self) -> None:
        for name in ("mean_plus", "mean_minus"):
            if not getattr(self, name) >= 1:
                raise ConfigError(f"telegraph phases: {name} must be >= 1 step, got {getattr(self, name)!r}")

    @property
    def p_plus(self) -> float:
        return self.mean_plus / (self.mean_plus + self.mean_minus)

    def sample(self, n: int, gen: np.random.Generator) -> np.ndarray:
        """Alternating geometric durations (memoryless, so the first one is stationary too)."""
        first = bool(gen.random() < self.p_plus)
        pieces, total, phase = [], 0, first
        while total < n:
            k = max(16, int(2 * n / (self.mean_plus + self.mean_minus)) + 16)
            plus = gen.geometric(1.0 / self.mean_plus, size=k)
            minus = gen.geometric(1.0 / self.mean_minus, size=k)
            lengths = np.stack([plus, minus] if phase else [minus, plus], axis=1).ravel()
            kinds = np.tile([phase, not phase], k)
            pieces.append(np.repeat(kinds, lengths))
            total += int(lengths.sum())
        return np.concatenate(pieces)[:n]

    def sample_many(self, runs: int, n: int, gen: np.random.Generator) -> np.ndarray:
        """``runs`` independent stationary sequences, shape (runs, n)."""
        return np.stack([self.sample(n, gen) for _ in range(runs)])


@dataclass(frozen=True)
class Renewal:
    """Phases of random type (``+`` with probability ``p_choose``) and uniform durations in [lo, hi] steps."""

    lo: int = 5
    hi: int = 15
    p_choose: float = 0.5

    def __post_init__(self) -> None:
        _positive_int(self, "lo", "hi")
        if self.hi < self.lo:
            raise ConfigError(f"renewal phases: hi = {self.hi} must be >= lo = {self.lo}")
        if not 0 < self.p_choose < 1:
            raise ConfigError(f"renewal phases: p_choose must lie in (0, 1), got {self.p_choose!r}")

    @property
    def p_plus(self) -> float:
        return self.p_choose  # both phase types share one duration law

    def sample(self, n: int, gen: np.random.Generator) -> np.ndarray:
        count = n // self.lo + 2
        lengths = gen.integers(self.lo, self.hi + 1, size=count)
        kinds = gen.random(count) < self.p_choose
        seq = np.repeat(kinds, lengths)
        # start at a uniform point of the first phase (approximately stationary: the exact law of the
        # phase covering t = 0 is length-biased)
        start = int(gen.integers(lengths[0]))
        return seq[start:start + n]


@dataclass(frozen=True)
class Paired:
    """Pairs of equally long phases in random order; the pair's duration is uniform in [lo, hi] steps."""

    lo: int = 10
    hi: int = 30

    def __post_init__(self) -> None:
        _positive_int(self, "lo", "hi")
        if self.hi < self.lo:
            raise ConfigError(f"paired phases: hi = {self.hi} must be >= lo = {self.lo}")

    @property
    def p_plus(self) -> float:
        return 0.5

    def sample(self, n: int, gen: np.random.Generator) -> np.ndarray:
        count = n // (2 * self.lo) + 2
        lengths = np.repeat(gen.integers(self.lo, self.hi + 1, size=count), 2)
        first = gen.random(count) < 0.5
        kinds = np.stack([first, ~first], axis=1).ravel()
        seq = np.repeat(kinds, lengths)
        start = int(gen.integers(2 * lengths[0]))
        return seq[start:start + n]


@dataclass(frozen=True)
class IID:
    """A new phase at every step: ``+`` with probability ``p``."""

    p: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.p < 1:
            raise ConfigError(f"iid phases: p must lie in (0, 1), got {self.p!r}")

    @property
    def p_plus(self) -> float:
        return self.p

    def sample(self, n: int, gen: np.random.Generator) -> np.ndarray:
        return gen.random(n) < self.p


PhaseProcess = Periodic | Telegraph | Renewal | Paired | IID
PROCESSES = {"periodic": Periodic, "telegraph": Telegraph, "renewal": Renewal, "paired": Paired, "iid": IID}


def phase_signal(phases: np.ndarray, p_plus: float) -> np.ndarray:
    """The broadcast third factor :math:`s_t` for a boolean phase array (any shape)."""
    s_plus, s_minus = importance_weights(p_plus)
    return np.where(phases, s_plus, s_minus)


def predicted_kappa(tau: float, mean_plus: float, mean_minus: float) -> float:
    r""":math:`\kappa = 1/(1 + \tau(1/T_+ + 1/T_-))`: telegraph phases, linear relaxation with time constant τ."""
    return 1.0 / (1.0 + tau * (1.0 / mean_plus + 1.0 / mean_minus))


def predicted_kappa_periodic(tau: float, period: float) -> float:
    r""":math:`\kappa = 1 - 2\tanh(T/2\tau)/(T/\tau)`: periodic phases of length T each."""
    x = period / tau
    return 1.0 - 2.0 * np.tanh(x / 2.0) / x


def _positive_int(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{type(obj).__name__.lower()} phases: {name} must be a positive integer, got {value!r}")
