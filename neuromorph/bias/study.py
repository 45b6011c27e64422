"""Bias-learning study cards: a model card plus a ``[bias_study]`` table.

The model card sections (``[task]``, ``[network]``, ``[rule]``, ...) describe one network and how
it learns; ``neuromorph train CARD`` trains exactly that network and ignores ``[bias_study]``.
``neuromorph bias CARD --out DIR`` reads the table and runs the study it names:

``kind = "multitask"``
    one random network, one bias vector per digits variant: ``variants``, ``widths`` (``n_rec``),
    ``modes``, ``seeds``;
``kind = "gain"``
    autonomous generation (sine or Van der Pol) against the recurrent gain: ``gains``
    (``network.init.w_rec_gain``), ``modes``, ``seeds``, ``eval_steps`` (free-running horizon) and
    ``success_nmse`` (a run succeeds below it);
``kind = "lorenz"``
    Lorenz forecasting, teacher-forced and closed loop: ``modes``, ``seeds``, ``warmup``,
    ``closed_loop_steps``, ``test_seed`` (a fresh trajectory for evaluation).

A *mode* is which parameters learn, with its own learning rate (``[bias_study.lr]``):

=========== ========================================== ===============================
``bias``    the hidden biases :math:`b` only             random weights, learned biases
``full``    :math:`W^\\mathrm{in}, W^\\mathrm{rec}, b, W^\\mathrm{out}, b^\\mathrm{out}`  the usual network
``readout`` :math:`W^\\mathrm{out}, b^\\mathrm{out}`       a random-feature baseline
=========== ========================================== ===============================

Everything else (the rule: ``bptt`` for the exact gradient, ``eprop``/``rflo`` for the local
ones; the optimiser; the task) comes from the model card, so a study is one argument away from
its local-rule version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuromorph.config import RunSpec, apply_overrides, build_section, card_to_toml, resolve
from neuromorph.data import find_file
from neuromorph.errors import ConfigError
from neuromorph.plasticity import Target
from neuromorph.tasks import DigitsTask, TrajectoryTask
from neuromorph.tasks.digits import DIGIT_VARIANTS
from neuromorph.tomlfile import read_toml

MODES: dict[str, frozenset[Target]] = {
    "bias": frozenset({Target.BIAS}),
    "full": frozenset({Target.W_IN, Target.W_REC, Target.BIAS, Target.W_OUT, Target.B_OUT}),
    "readout": frozenset({Target.W_OUT, Target.B_OUT}),
}
KINDS = ("multitask", "gain", "lorenz")


@dataclass(frozen=True)
class StudySpec:
    """The ``[bias_study]`` table (see the module docstring); unused keys keep their defaults."""

    kind: str = "gain"
    modes: tuple[str, ...] = ("bias", "full")
    seeds: tuple[int, ...] = (0,)
    lr: tuple[tuple[str, float], ...] = ()  #: per-mode learning rate; a mode not listed uses optimizer.lr
    variants: tuple[str, ...] = DIGIT_VARIANTS
    widths: tuple[int, ...] = (16, 64, 256, 1024)
    gains: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    eval_steps: int = 600
    success_nmse: float = 0.1
    warmup: int = 100
    closed_loop_steps: int = 300
    test_seed: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"[bias_study] kind must be one of {list(KINDS)}, got {self.kind!r}")
        for mode in self.modes:
            if mode not in MODES:
                raise ConfigError(f"[bias_study] modes: {mode!r} is not one of {list(MODES)}")
        for mode, lr in self.lr:
            if mode not in MODES or not lr > 0:
                raise ConfigError(f"[bias_study.lr] needs a positive rate per mode of {list(MODES)}, got {mode} = {lr}")
        for variant in self.variants:
            if variant not in DIGIT_VARIANTS:
                raise ConfigError(f"[bias_study] variants: {variant!r} is not one of {list(DIGIT_VARIANTS)}")
        if not self.modes or not self.seeds:
            raise ConfigError("[bias_study] needs at least one mode and one seed")
        if any(not 0 <= s <= 2**63 - 1 for s in (*self.seeds, self.test_seed)):
            raise ConfigError("[bias_study] seeds and test_seed must be integers in [0, 2**63 - 1]")
        if any(w < 1 for w in self.widths) or any(not g >= 0 for g in self.gains):
            raise ConfigError("[bias_study] widths must be >= 1 and gains >= 0")
        if self.eval_steps < 1 or self.closed_loop_steps < 1 or self.warmup < 0 or not self.success_nmse > 0:
            raise ConfigError("[bias_study] eval_steps and closed_loop_steps must be >= 1, warmup >= 0, "
                              "success_nmse > 0")


@dataclass(frozen=True)
class Study:
    """A resolved study: the base run, the table, and the card with its overrides (stored with the results)."""

    base: RunSpec
    spec: StudySpec
    card: dict
    text: str
    where: str

    def run_spec(self, mode: str, seed: int, **network: Any) -> RunSpec:
        """The base run with ``mode``'s targets and learning rate, ``seed``, and network overrides
        (``n_rec``, ``w_rec_gain``, ``variant``)."""
        overrides: dict[str, Any] = {"rule.targets": sorted(t.value for t in MODES[mode]), "train.seed": seed}
        lr = dict(self.spec.lr).get(mode)
        if lr is not None:
            overrides["optimizer.lr"] = lr
        overrides |= {_GRID_KEYS[name]: value for name, value in network.items()}
        card = apply_overrides(self.card, overrides, self.where)
        card.pop("bias_study", None)
        return resolve(card, self.where)


#: Grid coordinates of a run -> the card keys they set.
_GRID_KEYS = {"n_rec": "network.n_rec", "w_rec_gain": "network.init.w_rec_gain", "variant": "task.variant"}
_VECTORS = {"modes": str, "seeds": int, "variants": str, "widths": int, "gains": float}


def _tuple(kind: type):
    def convert(value: Any, label: str) -> tuple:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, kind) or (kind is float and isinstance(v, int)) for v in items) or any(
                isinstance(v, bool) for v in items):
            raise ConfigError(f"{label} must be a list of {kind.__name__}, got {value!r}")
        if kind is float and not all(math.isfinite(v) for v in items):
            raise ConfigError(f"{label} must be finite numbers, got {value!r}")
        if kind is int and not all(-(2**63) <= v <= 2**63 - 1 for v in items):
            raise ConfigError(f"{label} must be integers in [-2**63, 2**63 - 1], got {value!r}")
        return tuple(kind(v) for v in items)

    return convert


def _lr(value: Any, label: str) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{label} must be a table of mode = rate, e.g. {{ bias = 0.01 }}")
    rates = []
    for mode, rate in value.items():
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not math.isfinite(rate):
            raise ConfigError(f"{label} {mode} must be a finite number, got {rate!r}")
        rates.append((mode, float(rate)))
    return tuple(sorted(rates))


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> Study:
    """Read a study card (a file, or a shipped card's name: ``models/bias_vdp.toml``); ``overrides`` map
    dotted keys (``"bias_study.seeds"``) to values."""
    path = find_file("models", path)
    card, _ = read_toml(path, "study card")
    return parse_study(card, path, overrides)


def parse_study(card: dict, path: Path, overrides: dict[str, Any] | None = None) -> Study:
    """A :class:`Study` from a parsed study card read from ``path``."""
    card = apply_overrides(card, overrides or {}, str(path))
    table = card.get("bias_study")
    if table is None:
        raise ConfigError(f"{path} has no [bias_study] table; train a plain model card with `neuromorph train`")
    converters = {k: _tuple(v) for k, v in _VECTORS.items()} | {"lr": _lr}
    spec = build_section(StudySpec, table, str(path), "bias_study", converters)
    base_card = {k: v for k, v in card.items() if k != "bias_study"}
    base = resolve(base_card, str(path))
    _check_task(spec, base, path)
    return Study(base, spec, card, card_to_toml(card), str(path))


def _check_task(spec: StudySpec, base: RunSpec, path: Path) -> None:
    task = base.task
    if spec.kind == "multitask" and not isinstance(task, DigitsTask):
        raise ConfigError(f"{path}: a multitask study needs [task] name = \"digits\"")
    if spec.kind in ("gain", "lorenz") and not isinstance(task, TrajectoryTask):
        raise ConfigError(f"{path}: a {spec.kind} study needs [task] name = \"trajectory\"")
    if spec.kind == "gain" and task.system == "lorenz":
        raise ConfigError(f"{path}: a gain study generates a trajectory: task.system must be \"sine\" or \"vdp\"")
    if spec.kind == "lorenz" and task.system != "lorenz":
        raise ConfigError(f"{path}: a lorenz study needs task.system = \"lorenz\"")
    if spec.kind == "lorenz" and spec.warmup < task.lag:
        raise ConfigError(f"{path}: [bias_study] warmup = {spec.warmup} must be >= task.lag = {task.lag} "
                          "(closed loop feeds back forecasts made lag steps earlier)")

