"""Sweep files: a grid of model-card overrides, read from TOML once.

A sweep file is a card of the one schema (:mod:`neuromorph.cards`) whose study section is ``[sweep]``,
with these tables (paths are relative to the sweep file; where no such file exists, a card may also be
named as a shipped one, ``"gain_romo_eprop"`` or ``"models/gain_romo_eprop.toml"``)::

    [sweep]            iterations (every run), batch_size (optional), threads (optional)
    [sweep.cards]      task axis: short name -> base model card, e.g. romo = "../models/gain_romo_eprop.toml"
    [sweep.grid]       gain = [...], lr = [...], seed = [...], rule = [...], flossing = [false, true]
    [sweep.set]        optional card overrides for every run, e.g. "network.n_rec" = 32
    [sweep.lyapunov]   k, warmup, batch_size, seed: the spectrum before and after training
    [sweep.flossing]   iterations, lr, k, warmup, batch_size, rules: local pre-flossing (rules it applies to)

Each grid point is one run: the base card with ``network.init.w_rec_gain = gain``,
``optimizer.lr = lr``, ``train.seed = seed`` and the ``[rule]`` table of ``rule`` from
:data:`RULES` (keeping the card's ``targets``).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuromorph.analysis.flossing import FlossingSpec
from neuromorph.cards import check_layout, study_section
from neuromorph.config import RunSpec, apply_overrides, build_section, check_keys, resolve
from neuromorph.data import find_file, shipped_file
from neuromorph.errors import ConfigError
from neuromorph.tomlfile import read_toml

__all__ = ["RULES", "LyapunovSpec", "RunPoint", "SweepSpec", "load_sweep", "parse_sweep"]

#: Rule names of a sweep -> the [rule] table. The two e-prop truncations of Zhang, Liu & Liu, docs/gain.md:
#: ``eprop`` detaches only the recurrent input W_h f(h) (the leak path stays: trace decay alpha,
#: seed 003's ``hidden.detach()`` e-prop); ``eprop_1step`` detaches the whole state every step
#: (one-step truncation, trace decay 0, equal to BPTT with truncation 1).
RULES: dict[str, dict[str, Any]] = {
    "bptt": {"name": "bptt"},
    "eprop": {"name": "rflo", "feedback": "symmetric", "decay": "leak"},
    "eprop_1step": {"name": "rflo", "feedback": "symmetric", "decay": 0.0},
    "rflo": {"name": "rflo", "feedback": "random", "decay": "leak"},
}
AXES = ("gain", "lr", "seed", "rule", "flossing")


@dataclass(frozen=True)
class LyapunovSpec:
    """Spectrum of ``k`` exponents (default N) on ``batch_size`` trials drawn with ``seed``, ``warmup`` discarded."""

    k: int | None = None
    warmup: int = 10
    batch_size: int = 32
    seed: int = 12345

    def __post_init__(self) -> None:
        if (self.k is not None and self.k < 1) or self.warmup < 0 or self.batch_size < 1:
            raise ConfigError(f"[sweep.lyapunov] needs k >= 1, warmup >= 0 and batch_size >= 1, got {self}")


@dataclass(frozen=True)
class RunPoint:
    """One grid point."""

    task: str
    rule: str
    gain: float
    lr: float
    seed: int
    flossing: bool = False

    @property
    def id(self) -> str:
        """A readable prefix (``romo-eprop-g1.5-lr0.001-s0``) and a hash of the *full* point: two
        points that print alike (gain 0.5 and 0.50000001) never share an id, so never a file."""
        floss = "-floss" if self.flossing else ""
        return f"{self.task}-{self.rule}-g{self.gain:g}-lr{self.lr:g}-s{self.seed}{floss}-{self.digest}"

    @property
    def digest(self) -> str:
        """The first 10 hex digits of SHA-256 over every field (floats exactly, as ``float.hex``)."""
        exact = (self.task, self.rule, float(self.gain).hex(), float(self.lr).hex(), int(self.seed), bool(self.flossing))
        return hashlib.sha256(repr(exact).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file."""

    path: Path
    cards: dict[str, dict]  #: task name -> raw base card
    grid: dict[str, tuple]
    iterations: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    lyapunov: LyapunovSpec = field(default_factory=LyapunovSpec)
    flossing: FlossingSpec = field(default_factory=FlossingSpec)
    flossing_rules: tuple[str, ...] = ("eprop",)
    #: the command line's ``--set`` on run-card keys: applied to every run last (over the grid and [sweep])
    run_set: dict[str, Any] = field(default_factory=dict)

    def points(self) -> list[RunPoint]:
        """The grid in a fixed order (task, rule, gain, lr, seed, flossing); flossing only for ``flossing_rules``."""
        out = []
        for task, rule, gain, lr, seed, floss in itertools.product(
            self.cards, self.grid["rule"], self.grid["gain"], self.grid["lr"], self.grid["seed"], self.grid["flossing"]
        ):
            if floss and rule not in self.flossing_rules:
                continue
            out.append(RunPoint(task, rule, float(gain), float(lr), int(seed), bool(floss)))
        return out

    def run_spec(self, point: RunPoint) -> RunSpec:
        """The resolved model card of ``point``."""
        card = self.cards[point.task]
        rule = dict(RULES[point.rule])
        if "targets" in card.get("rule", {}):
            rule["targets"] = card["rule"]["targets"]
        overrides = {
            **self.overrides,
            "network.init.w_rec_gain": point.gain,
            "optimizer.lr": point.lr,
            "train.seed": point.seed,
            "rule": rule,
        }
        if self.iterations is not None:
            overrides["train.iterations"] = self.iterations
        overrides |= self.run_set
        where = f"{self.path} (run {point.id})"
        return resolve(apply_overrides(card, overrides, where), where)


def load_sweep(path: str | Path, check: bool = True, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """Read a sweep file; with ``check`` every run's card is resolved, so bad cards fail before any run.

    ``overrides`` (``--set``): a ``sweep.``-key edits the sweep file (``sweep.iterations``, ``sweep.grid.seed``);
    any other key (``network.n_rec``, ``train.iterations``) is set in every run's card, after everything else.
    """
    path = find_file("sweeps", path)
    table, _ = read_toml(path, "sweep file")
    overrides = overrides or {}
    table = apply_overrides(table, {k: v for k, v in overrides.items() if k.split(".")[0] == "sweep"}, str(path))
    run_set = {k: v for k, v in overrides.items() if k.split(".")[0] != "sweep"}
    return parse_sweep(table, path, check, run_set)


def parse_sweep(table: dict, path: Path, check: bool = True, run_set: dict[str, Any] | None = None) -> SweepSpec:
    """A :class:`SweepSpec` from a parsed sweep file at ``path`` (card paths are relative to it)."""
    where = str(path)
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a card is a table of sections, got {table!r}")
    check_layout(table, "sweep", where)  # one card schema (neuromorph.cards)
    sweep = study_section(table, "sweep", where)
    parts = {name: sweep.pop(name) for name in SUBSECTIONS if name in sweep}
    for name, body in parts.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: [sweep.{name}] must be a table, got {body!r}")
    check_keys(sweep, ("iterations", "batch_size", "threads", *SUBSECTIONS), where, "sweep")
    table = parts
    overrides = dict(table.get("set", {}))
    for key in ("batch_size", "threads"):
        if key in sweep:
            overrides[f"train.{key}"] = sweep[key]
    iterations = sweep.get("iterations")
    if iterations is not None and (not isinstance(iterations, int) or iterations < 1):
        raise ConfigError(f"{where}: [sweep] iterations must be a positive integer, got {iterations!r}")
    cards = _cards(table.get("cards"), path)
    grid = _grid(table.get("grid"), where)
    floss = dict(table.get("flossing", {}))
    rules = floss.pop("rules", ["eprop"])
    if not isinstance(rules, list) or any(not isinstance(r, str) or r not in RULES for r in rules):
        raise ConfigError(f"{where}: [sweep.flossing] rules must be a list of {sorted(RULES)}, got {rules!r}")
    spec = SweepSpec(
        path=path,
        cards=cards,
        grid=grid,
        iterations=iterations,
        overrides=overrides,
        lyapunov=build_section(LyapunovSpec, table.get("lyapunov", {}), where, "sweep.lyapunov"),
        flossing=build_section(FlossingSpec, floss, where, "sweep.flossing"),
        flossing_rules=tuple(rules),
        run_set=dict(run_set or {}),
    )
    points = spec.points()
    if not points:
        raise ConfigError(f"{where}: the grid is empty")
    _refuse_duplicates(points, where)
    for point in points if check else ():
        run = spec.run_spec(point)
        if not run.network.self_connections:
            raise ConfigError(f"{where}: card {point.task!r} is not a rate network; set network.neuron.model = 'rate'")
    return spec


#: the sweep section's tables
SUBSECTIONS = ("cards", "grid", "set", "lyapunov", "flossing")


def _cards(table: Any, path: Path) -> dict[str, dict]:
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: [sweep.cards] must map task names to model cards, "
                          'e.g. romo = "../models/gain_romo_eprop.toml"')
    cards = {}
    for name, rel in table.items():
        if not isinstance(rel, str):
            raise ConfigError(f"{path}: [sweep.cards] {name} must be a path to a model card, got {rel!r}")
        card_path = (path.parent / rel).resolve()
        if not card_path.exists():  # a shipped card's name: "gain_romo_eprop" or "models/gain_romo_eprop.toml"
            card_path = shipped_file("models", rel) or card_path
        cards[name], _ = read_toml(card_path, f"model card of [sweep.cards] {name}:")
    return cards


def _grid(table: Any, where: str) -> dict[str, tuple]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [sweep.grid] must be a table with {', '.join(AXES)}")
    check_keys(table, AXES, where, "sweep.grid")
    grid = {"gain": table.get("gain"), "lr": table.get("lr"), "seed": table.get("seed", [0]),
            "rule": table.get("rule", ["eprop"]), "flossing": table.get("flossing", [False])}
    for axis, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: [sweep.grid] {axis} must be a non-empty list, got {values!r}")
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in grid["gain"] + grid["lr"]):
        raise ConfigError(f"{where}: [sweep.grid] gain and lr must be lists of numbers")
    if any(not v > 0 for v in grid["lr"]):
        raise ConfigError(f"{where}: [sweep.grid] lr values must be > 0, got {grid['lr']}")
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in grid["seed"]):
        raise ConfigError(f"{where}: [sweep.grid] seed must be a list of integers >= 0, got {grid['seed']}")
    if any(not isinstance(r, str) or r not in RULES for r in grid["rule"]):
        raise ConfigError(f"{where}: [sweep.grid] rule must be a list of {sorted(RULES)}, got {grid['rule']}")
    if any(not isinstance(v, bool) for v in grid["flossing"]):
        raise ConfigError(f"{where}: [sweep.grid] flossing must be a list of true/false, got {grid['flossing']}")
    return {k: tuple(v) for k, v in grid.items()}


def _refuse_duplicates(points: list[RunPoint], where: str) -> None:
    """Two equal grid points would be one run counted twice (``seed = [0, 0, 1]``)."""
    seen: dict[str, RunPoint] = {}
    for point in points:
        if point.id in seen:
            raise ConfigError(f"{where}: [sweep.grid] holds the point {point.id.rsplit('-', 1)[0]} twice (task {point.task}, "
                              f"rule {point.rule}, gain {point.gain!r}, lr {point.lr!r}, seed {point.seed}); remove the "
                              "repeated value")
        seen[point.id] = point
