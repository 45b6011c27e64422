"""The contrastive model card: TOML in, a frozen :class:`ContrastiveCard` out.

A contrastive card is a card of the one schema (:mod:`neuromorph.cards`): the engine sections say what
the engine runs, in the run card's words (``[network.neuron]`` is a neuron family of the registry,
parsed by :mod:`neuromorph.config` as in every card; ``[rule]`` is the contrastive rule,
:class:`~neuromorph.plasticity.contrastive.Contrastive`), and the study section ``[contrastive]``
holds the schedule and ``[contrastive.phases]``. Tables (keys optional unless marked):

``[task]``            ``name`` ("xor" or "digits", required), ``test_fraction`` (digits), ``split_seed``
``[network]``         ``n_hidden``, ``dt`` (units of τ for rate units, seconds for LIF), ``init_scale``
``[network.neuron]``  ``model``: ``"energy_rate"`` (``tau``; EP and CHL) or ``"filtered_lif"`` (``tau_mem``,
                      ``v_th``, ``t_ref``, ``tau_rate``, ``rate_scale``; the spiking variant)
``[rule]``            ``teaching`` ("nudge": EP's β-nudge, or "clamp": CHL), ``beta``, ``clamp_margin``,
                      ``scale`` (the factor in front of the contrast; default 1/β for nudged rate units,
                      Scellier & Bengio 2017, and 1 otherwise), ``delivery`` ("broadcast" or "post"),
                      ``split_signed``; ``name`` = "contrastive" if given
``[contrastive.phases]`` ``steps`` per presentation (classical: half free, half nudged; periodic local: the same
                      phases, applied online), ``random`` ("telegraph", "renewal", "paired" or "iid": a new
                      phase every step), ``mean_plus``/``mean_minus`` (telegraph, steps), ``lo``/``hi``
                      (renewal and paired, steps), ``reset``, ``burn_in``
``[contrastive]``     ``epochs``, ``batch_size``, ``lr``, ``seeds``, ``eval_steps``, ``schemes``, ``tolerance``,
                      ``lr_decay``, ``baseline_steps``, ``kappa_lr`` (and the ``phases`` table above)

Unknown keys, wrong types and bad values raise :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from neuromorph.cards import check_layout, study_section
from neuromorph.config import SEED_MAX, build_section, check_keys, overridden, parse_neuron
from neuromorph.contrastive.data import TASKS
from neuromorph.data import find_file
from neuromorph.contrastive.models import NetSpec
from neuromorph.contrastive.phases import IID, Paired, Periodic, Renewal, Telegraph
from neuromorph.dynamics import EnergyRateParameters, LIFParameters, Neuron
from neuromorph.errors import ConfigError
from neuromorph.plasticity.contrastive import ClassicalContrastive, Contrastive
from neuromorph.tomlfile import read_toml

SECTIONS = ("task", "network", "rule", "contrastive")
SCHEMES = ("classical", "periodic", "random")
RANDOM = ("telegraph", "renewal", "paired", "iid")
UNITS = ("energy_rate", "filtered_lif")  #: the neuron families a layered contrastive network is built of
RULE_KEYS = ("name", "teaching", "beta", "clamp_margin", "scale", "delivery", "split_signed")


@dataclass(frozen=True)
class TaskSpec:
    name: str = ""
    test_fraction: float = 0.25
    split_seed: int = 0


@dataclass(frozen=True)
class NetworkSection:
    n_hidden: int = 8
    dt: float = 0.5
    init_scale: float = 1.0
    neuron: Neuron = field(default_factory=EnergyRateParameters)


@dataclass(frozen=True)
class PhasesSpec:
    steps: int = 40
    random: str = "telegraph"
    mean_plus: float = 20.0
    mean_minus: float = 20.0
    lo: int = 10
    hi: int = 30
    reset: bool = True  #: start every presentation from rest (False: carry the state over)
    burn_in: int = 0  #: free steps after each input switch with the plasticity off (s_t = 0), every scheme


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 100
    batch_size: int = 4
    lr: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)
    eval_steps: int = 40
    schemes: tuple[str, ...] = SCHEMES
    lr_decay: bool = False  #: decay every scheme's rate linearly to zero over the epochs (η → 0, the theorem's limit)
    baseline_steps: float = 0.0  #: random phases only: per-synapse slow trace of g subtracted from g (0: off); see train.py
    kappa_lr: bool = False  #: local schemes: divide the per-step rate by the predicted κ (train.local_kappa)
    tolerance: float = 0.05  #: the claim: |acc(local) - acc(classical)| <= tolerance (mean over seeds)


@dataclass(frozen=True)
class ContrastiveCard:
    task: TaskSpec
    network: NetworkSection = field(default_factory=NetworkSection)
    phases: PhasesSpec = field(default_factory=PhasesSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    rule: Contrastive = field(default_factory=Contrastive)  #: as the card gives it (the study sets p_plus, baseline)
    scale: float | None = None  #: ``[rule] scale``; None: :attr:`contrast_scale`'s default
    source: str = ""
    path: str = "<card>"

    @property
    def model(self) -> str:
        """The variant in the literature's names: "ep", "chl" or "spiking"."""
        if self.network.neuron.model == "filtered_lif":
            return "spiking"
        return "chl" if self.rule.teaching == "clamp" else "ep"

    @property
    def contrast_scale(self) -> float:
        """The factor in front of the contrast: ``[rule] scale``, or 1/β for EP (the nudge is infinitesimal), else 1."""
        if self.scale is not None:
            return self.scale
        return 1.0 / self.rule.beta if self.model == "ep" else 1.0

    def net_spec(self, n_in: int, n_out: int) -> NetSpec:
        """The two-layer view of the network (:mod:`.models`: the energy, the estimators)."""
        n, neuron, r = self.network, self.network.neuron, self.rule
        if self.model == "spiking":
            lif = LIFParameters(tau_mem=neuron.tau_mem, v_th=neuron.v_th, t_ref=neuron.t_ref, input_scaling=True)
            return NetSpec(n_in, n.n_hidden, n_out, "spiking", r.beta, n.dt, 1.0, r.clamp_margin, neuron.tau_rate, lif,
                           neuron.rate_scale)
        return NetSpec(n_in, n.n_hidden, n_out, self.model, r.beta, n.dt, neuron.tau, r.clamp_margin)

    def periodic(self) -> Periodic:
        half = self.phases.steps // 2
        return Periodic(plus=half, minus=half, offset=0, first="minus")

    def random_process(self) -> Telegraph | Renewal | Paired | IID:
        p = self.phases
        if p.random == "telegraph":
            return Telegraph(p.mean_plus, p.mean_minus)
        if p.random == "iid":
            return IID(0.5)
        return Renewal(p.lo, p.hi) if p.random == "renewal" else Paired(p.lo, p.hi)

    def rule_decl(self) -> Contrastive:
        """The temporally local rule as the card declares it (what a profile's locality check reads)."""
        return self.learning_rule("periodic")

    def learning_rule(self, scheme: str, p_plus: float = 0.5) -> Contrastive | ClassicalContrastive:
        """The rule that trains ``scheme``: the card's rule with its contrast factor and the scheme's phase weights."""
        r = self.rule
        if scheme == "classical":
            return ClassicalContrastive(teaching=r.teaching, beta=r.beta, clamp_margin=r.clamp_margin,
                                        scale=self.contrast_scale)
        baseline = self.train.baseline_steps if scheme == "random" else 0.0  # occupancy noise exists only there
        return dataclasses.replace(r, scale=self.contrast_scale, spiking=self.model == "spiking", p_plus=p_plus,
                                   baseline_steps=baseline)




def _tuple(value, label):
    if not isinstance(value, list):
        raise ConfigError(f"{label} must be a list, got {value!r}")
    return tuple(value)


def load_contrastive_card(path: str | Path, overrides: dict | None = None) -> ContrastiveCard:
    """Read and validate a contrastive model card (a file, or a shipped card's name: ``models/cl_xor.toml``);
    ``overrides`` map dotted keys (``"contrastive.seeds"``) to values (``--set``)."""
    path = find_file("models", path)
    table, text = overridden(*read_toml(path, "contrastive model card"), overrides, str(path))
    return parse_contrastive_card(table, str(path), text)


def parse_contrastive_card(table: dict, where: str = "<card>", source: str = "") -> ContrastiveCard:
    """Build a :class:`ContrastiveCard` from a parsed TOML table and validate it."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a card is a table of sections, got {table!r}")
    table = {"contrastive": {}, **table}  # the study section marks the kind; its keys are all optional
    check_layout(table, "contrastive", where)
    if "task" not in table or not isinstance(table["task"], dict) or "name" not in table["task"]:
        raise ConfigError(f"{where}: [task] name is required (one of {TASKS})")
    study = study_section(table, "contrastive", where)
    phases = study.pop("phases", {})
    parts = {"task": build_section(TaskSpec, table["task"], where, "task"),
             "phases": build_section(PhasesSpec, phases, where, "contrastive.phases"),
             "train": build_section(TrainSpec, study, where, "contrastive", {"seeds": _tuple, "schemes": _tuple})}
    rule, scale = _rule(table.get("rule", {}), where)
    card = ContrastiveCard(**parts, network=_network(table.get("network", {}), where), rule=rule, scale=scale,
                           source=source, path=where)
    _validate(card, where)
    return card


def _network(table, where: str) -> NetworkSection:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [network] must be a table, got {table!r}")
    table = dict(table)
    neuron = table.pop("neuron", {})
    if not isinstance(neuron, dict):
        raise ConfigError(f"{where}: [network.neuron] must be a table, got {neuron!r}")
    neuron = dict(neuron)
    model = neuron.setdefault("model", "energy_rate")
    if model not in UNITS:
        raise ConfigError(f"{where}: [network.neuron] model = {model!r}: a layered contrastive network is built of "
                          f"{' or '.join(UNITS)} units")
    section = build_section(NetworkSection, table, where, "network")
    return dataclasses.replace(section, neuron=parse_neuron(neuron, section.n_hidden, where))


def _rule(table, where: str) -> tuple[Contrastive, float | None]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [rule] must be a table, got {table!r}")
    table = dict(table)
    check_keys(table, RULE_KEYS, where, "rule")
    if table.pop("name", "contrastive") != "contrastive":
        raise ConfigError(f"{where}: [rule] name must be \"contrastive\" in a contrastive card")
    scale = table.pop("scale", None)
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0
                              or scale == float("inf")):
        raise ConfigError(f"{where}: [rule] scale = {scale!r}: must be a finite number > 0")
    return build_section(Contrastive, table, where, "rule"), None if scale is None else float(scale)


def _validate(card: ContrastiveCard, where: str) -> None:
    def bad(key: str, value, want: str) -> ConfigError:
        return ConfigError(f"{where}: {key} = {value!r}: {want}")

    if card.task.name not in TASKS:
        raise bad("[task] name", card.task.name, f"must be one of {TASKS}")
    p, t = card.phases, card.train
    if p.steps < 2 or p.steps % 2:
        raise bad("[contrastive.phases] steps", p.steps, "must be an even number >= 2 (half free, half nudged)")
    if not isinstance(p.burn_in, int) or isinstance(p.burn_in, bool) or p.burn_in < 0:
        raise bad("[contrastive.phases] burn_in", p.burn_in, "must be an integer >= 0 (steps)")
    if p.random not in RANDOM:
        raise bad("[contrastive.phases] random", p.random, f"must be one of {RANDOM}")
    bad_schemes = [s for s in t.schemes if s not in SCHEMES]
    if bad_schemes or not t.schemes:
        raise bad("[contrastive] schemes", list(t.schemes), f"must be a non-empty list from {SCHEMES}")
    if not t.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= SEED_MAX
                              for s in t.seeds):
        raise bad("[contrastive] seeds", list(t.seeds), "must be a non-empty list of integers in [0, 2**63 - 1]")
    if not 0 <= card.task.split_seed <= SEED_MAX:
        raise bad("[task] split_seed", card.task.split_seed, "must be an integer in [0, 2**63 - 1]")
    if not 0 < card.task.test_fraction < 1:
        raise bad("[task] test_fraction", card.task.test_fraction, "must lie in (0, 1)")
    if card.network.n_hidden < 1:
        raise bad("[network] n_hidden", card.network.n_hidden, "must be >= 1")
    for key in ("lo", "hi"):
        if getattr(p, key) < 1:
            raise bad(f"[contrastive.phases] {key}", getattr(p, key), "must be >= 1 (steps)")
    for key in ("epochs", "batch_size", "eval_steps"):
        if getattr(t, key) < 1:
            raise bad(f"[contrastive] {key}", getattr(t, key), "must be >= 1")
    if t.baseline_steps != 0 and not t.baseline_steps >= 1:
        raise bad("[contrastive] baseline_steps", t.baseline_steps, "must be 0 (off) or a time constant >= 1 step")
    if not t.lr > 0:
        raise bad("[contrastive] lr", t.lr, "must be > 0")
    if not 0 <= t.tolerance <= 1:
        raise bad("[contrastive] tolerance", t.tolerance, "must lie in [0, 1] (an accuracy difference)")
    if t.kappa_lr and card.model == "spiking":
        raise bad("[contrastive] kappa_lr", True, "predicts κ from a rate unit's relaxation time τ; the filtered_lif "
                  "units have none")
    try:  # the dataclasses' own checks, re-raised with the file name
        card.net_spec(1, 1), card.periodic(), card.random_process(), card.rule_decl()
        card.network.neuron.validate(card.network.n_hidden, card.network.dt)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
