"""The comparison card: TOML in, a frozen :class:`CompareCard` out.

Tables (every key optional; defaults reproduce Williams, Payeur & Lajoie 2026, docs/theory.md and
``models/linear_teacher.toml``):

``[theory_compare.modes]``       teacher and initial student mode values (a, b, w) and the bases' ``seed``
``[theory_compare.rflo]``        RFLO feedback singular values ``a_hat`` and scalar trace ``decay``
``[theory_compare.population]``  exact population gradients: ``lr``, ``t_end``, ``record_every``
``[theory_compare.sgd]``         SGD on sampled inputs through the torch rule interface
``[theory_compare.rank]``        rank restriction of RFLO updates in a non-aligned network
``[theory_compare.order]``       the learning order of a non-aligned student
``[theory_compare.rates]``       the grid of teacher eigenvalues for λ_min(w*)

Unknown keys, wrong types and a bad teacher raise :class:`ConfigError` or
:class:`TheoryError` naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuromorph.cards import check_layout, study_section
from neuromorph.config import build_section, check_keys, floats, overridden
from neuromorph.data import find_file
from neuromorph.errors import ConfigError, TheoryError
from neuromorph.theory import ModeValues
from neuromorph.tomlfile import read_toml

SECTIONS = ("modes", "rflo", "population", "sgd", "rank", "order", "rates")


def _vector(value: Any, label: str) -> tuple[float, ...]:
    out = floats(value, label)
    return out if isinstance(out, tuple) else (out,)


@dataclass(frozen=True)
class ModesSpec:
    """Per-mode teacher values and the student's initial values (data-aligned, n = m = o)."""

    teacher_a: tuple[float, ...] = (1.0, -0.8, 1.2)
    teacher_b: tuple[float, ...] = (0.9, 1.1, -0.7)
    teacher_w: tuple[float, ...] = (0.6, -0.5, 0.2)
    student_a: tuple[float, ...] = (0.5, -0.6, 0.8)
    student_b: tuple[float, ...] = (0.6, 0.8, -0.5)
    student_w: tuple[float, ...] = (0.0, 0.3, -0.4)
    seed: int = 0

    @property
    def teacher(self) -> ModeValues:
        return ModeValues(*(np.array(v) for v in (self.teacher_a, self.teacher_b, self.teacher_w)))

    @property
    def student(self) -> ModeValues:
        return ModeValues(*(np.array(v) for v in (self.student_a, self.student_b, self.student_w)))

    @property
    def n(self) -> int:
        return len(self.teacher_w)


@dataclass(frozen=True)
class RFLOSpec:
    """RFLO's feedback singular values :math:`\\hat a_i` and its trace decay :math:`D = \\lambda I`."""

    a_hat: tuple[float, ...] = (0.8, -1.0, 1.2)
    decay: float = 0.5


@dataclass(frozen=True)
class PopulationSpec:
    """Discrete learning with exact population gradients at ``lr`` and ``2 lr`` (the order check)."""

    lr: float = 1e-3
    t_end: float = 30.0
    record_every: int = 100


@dataclass(frozen=True)
class SGDSpec:
    """SGD on sampled Gaussian inputs through the torch backend's rules (loss at the final step)."""

    lr: float = 1e-2
    t_end: float = 15.0
    batch_size: int = 128
    n_steps: int = 20
    record_every: int = 15
    seed: int = 1


@dataclass(frozen=True)
class RankSpec:
    """A non-aligned network (n > o) trained by SGD: singular values of :math:`W_k - W_0`."""

    n: int = 8
    m: int = 3
    o: int = 2
    steps: int = 150
    lr: float = 0.02
    batch_size: int = 16
    n_steps: int = 20
    decay: float = 0.6
    seed: int = 3


@dataclass(frozen=True)
class OrderSpec:
    """Non-aligned small student, mode-aligned teacher with separated strengths, BPTT population GD."""

    teacher_a: tuple[float, ...] = (1.6, 1.0, 0.7)
    teacher_b: tuple[float, ...] = (1.25, 1.0, 0.6)
    teacher_w: tuple[float, ...] = (0.3, -0.4, 0.5)
    init_scale: float = 0.05
    lr: float = 5e-3
    t_end: float = 40.0
    seed: int = 7


@dataclass(frozen=True)
class RatesSpec:
    """λ_min(w*) at the balanced optimum a = b = 1 for RFLO with (``a_hat``, ``w_hat``)."""

    w_star_min: float = -0.95
    w_star_max: float = 0.99
    points: int = 200
    a_hat: float = 1.0
    w_hat: float = 0.5


@dataclass(frozen=True)
class CompareCard:
    """Everything ``neuromorph theory compare`` runs; ``source`` is the card's TOML text."""

    modes: ModesSpec = field(default_factory=ModesSpec)
    rflo: RFLOSpec = field(default_factory=RFLOSpec)
    population: PopulationSpec = field(default_factory=PopulationSpec)
    sgd: SGDSpec = field(default_factory=SGDSpec)
    rank: RankSpec = field(default_factory=RankSpec)
    order: OrderSpec = field(default_factory=OrderSpec)
    rates: RatesSpec = field(default_factory=RatesSpec)
    source: str = ""


_CLASSES = {"modes": ModesSpec, "rflo": RFLOSpec, "population": PopulationSpec, "sgd": SGDSpec,
            "rank": RankSpec, "order": OrderSpec, "rates": RatesSpec}


def load_compare_card(path: str | Path, overrides: dict | None = None) -> CompareCard:
    """Read and validate a comparison card (a file, or a shipped card's name: ``models/linear_teacher.toml``);
    ``overrides`` map dotted keys (``"theory_compare.sgd.steps"``) to values (``--set``)."""
    path = find_file("models", path)
    table, text = overridden(*read_toml(path, "comparison card"), overrides, str(path))
    return parse_compare_card(table, str(path), text)


def parse_compare_card(table: dict, where: str = "<card>", source: str = "") -> CompareCard:
    """Build a :class:`CompareCard` from a parsed TOML table and validate it."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a card is a table of sections, got {table!r}")
    table = {"theory_compare": {}, **table} if not table else table  # an empty card: every default
    check_layout(table, "theory", where)  # one card schema (neuromorph.cards)
    body = study_section(table, "theory_compare", where)
    check_keys(body, SECTIONS, where, "theory_compare")
    parts = {}
    for name, cls in _CLASSES.items():
        vectors = {f: _vector for f in cls.__dataclass_fields__ if cls.__dataclass_fields__[f].type.startswith("tuple")}
        parts[name] = build_section(cls, body.get(name, {}), where, f"theory_compare.{name}", vectors)
    card = CompareCard(**parts, source=source)
    validate(card, where)
    return card


def validate(card: CompareCard, where: str) -> None:
    """Check the teacher and the sizes; the messages say which key to change."""
    m, n = card.modes, card.modes.n
    if n < 1:
        raise ConfigError(f"{where}: [theory_compare.modes] teacher_w is empty; give at least one mode")
    _check_sizes(card, where)
    lengths = {k: len(getattr(m, k)) for k in ("teacher_a", "teacher_b", "student_a", "student_b", "student_w")}
    lengths["rflo.a_hat"] = len(card.rflo.a_hat)
    for key, length in lengths.items():
        if length != n:
            raise ConfigError(f"{where}: [theory_compare.modes] {key} has {length} entries but teacher_w has {n}; give one per mode")
    for key in ("teacher_w", "student_w"):
        bad = [w for w in getattr(m, key) if not abs(w) < 1]
        if bad:
            raise TheoryError(f"{where}: [theory_compare.modes] {key} = {bad} must satisfy |w| < 1 (a stable linear RNN)")
    p_star = np.array(m.teacher_a) * np.array(m.teacher_b)
    if np.any(p_star == 0):
        raise TheoryError(f"{where}: [theory_compare.modes] teacher mode(s) {list(np.flatnonzero(p_star == 0))} have a*b* = 0: "
                          "nothing to learn there; give every teacher mode a non-zero a and b")
    if not abs(card.rflo.decay) < 1:
        raise TheoryError(f"{where}: [theory_compare.rflo] decay = {card.rflo.decay} must satisfy |decay| < 1")
    if any(a == 0 for a in card.rflo.a_hat):
        raise TheoryError(f"{where}: [theory_compare.rflo] a_hat has a zero entry: that mode gets no learning signal")
    o = card.order
    if not (len(o.teacher_a) == len(o.teacher_b) == len(o.teacher_w)):
        raise ConfigError(f"{where}: [theory_compare.order] teacher_a, teacher_b and teacher_w need the same length")
    if any(not abs(w) < 1 for w in o.teacher_w):
        raise TheoryError(f"{where}: [theory_compare.order] teacher_w = {list(o.teacher_w)} must satisfy |w| < 1")
    if card.rank.o >= card.rank.n:
        raise ConfigError(f"{where}: [theory_compare.rank] needs o < n to show a rank restriction, got n = {card.rank.n}, "
                          f"o = {card.rank.o}")
    for section in ("population", "sgd", "rank", "order"):
        spec = getattr(card, section)
        if not spec.lr > 0:
            raise ConfigError(f"{where}: [theory_compare.{section}] lr must be > 0, got {spec.lr}")
    for section in ("population", "sgd", "order"):
        spec = getattr(card, section)
        if not spec.t_end > 0:
            raise ConfigError(f"{where}: [theory_compare.{section}] t_end must be > 0, got {spec.t_end}")


#: Integer keys that count something (sizes, steps, points) and must be >= 1.
_COUNTS = {"population": ("record_every",), "sgd": ("batch_size", "n_steps", "record_every"),
           "rank": ("n", "m", "o", "steps", "batch_size", "n_steps"), "rates": ("points",)}
_SEEDS = {"modes": "seed", "sgd": "seed", "rank": "seed", "order": "seed"}


def _check_sizes(card: CompareCard, where: str) -> None:
    """Counts >= 1, seeds in [0, 2**63 - 1], the rates grid inside (-1, 1)."""
    for section, keys in _COUNTS.items():
        for key in keys:
            value = getattr(getattr(card, section), key)
            if value < 1:
                raise ConfigError(f"{where}: [theory_compare.{section}] {key} must be >= 1, got {value}")
    for section, key in _SEEDS.items():
        value = getattr(getattr(card, section), key)
        if not 0 <= value <= 2**63 - 1:
            raise ConfigError(f"{where}: [theory_compare.{section}] {key} must be in [0, 2**63 - 1], got {value}")
    r = card.rates
    if not -1 < r.w_star_min < r.w_star_max < 1:
        raise ConfigError(f"{where}: [theory_compare.rates] needs -1 < w_star_min < w_star_max < 1, got {r.w_star_min}, "
                          f"{r.w_star_max}")
    if not card.order.teacher_w:
        raise ConfigError(f"{where}: [theory_compare.order] teacher_w is empty; give at least one mode")
    if card.rank.m > card.rank.n:
        raise ConfigError(f"{where}: [theory_compare.rank] needs m <= n, got n = {card.rank.n}, m = {card.rank.m}")
