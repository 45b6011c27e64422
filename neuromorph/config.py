"""Model cards: TOML in, typed frozen specs out.

Strings become objects here, once. A card has five tables, ``[task]``,
``[network]`` (with ``[network.neuron]``, ``[network.readout]``,
``[network.init]``), ``[rule]``, ``[optimizer]`` and ``[train]``. Unknown keys,
wrong types and bad values raise :class:`ConfigError` naming the file and the
key. ``n_in`` and ``n_out`` come from the task. :func:`resolved_card` returns
the complete card with every default filled in; it is stored with each run
and loads back to the same :class:`RunSpec`.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
import torch

from neuromorph import dynamics, plasticity
from neuromorph.backends.base import resolve_engine
from neuromorph.cards import check_layout
from neuromorph.data import find_file
from neuromorph.dynamics import Activation, ReadoutParameters
from neuromorph.errors import ConfigError
from neuromorph.memory import check_memory
from neuromorph.network import InitSpec, NetworkSpec
from neuromorph.plasticity import (
    Feedback,
    Mode,
    OptimizerName,
    OptimizerSpec,
    RateRegularization,
    Target,
)
from neuromorph.tasks import TASKS, Task
from neuromorph.tomlfile import read_toml


class Precision(enum.Enum):
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32 if self is Precision.FLOAT32 else torch.float64


DEVICE_FORMS = ('"cpu"', '"cuda"', '"cuda:N"')  #: the forms of ``train.device``


def check_device(device: Any) -> str:
    """``train.device`` checked against what torch sees: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; returns it."""
    valid = isinstance(device, str) and re.fullmatch(r"cpu|cuda(:[0-9]+)?", device) is not None
    if not valid:
        raise ConfigError(f"train.device must be one of {', '.join(DEVICE_FORMS)} (N: a CUDA device index), "
                          f"got {device!r}")
    if device == "cpu":
        return device
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device = {device!r}: no CUDA device is visible to torch (torch "
                          f"{torch.__version__}); use device = \"cpu\" (or install a CUDA build of torch)")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"train.device = {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s) "
                          f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return device


@dataclass(frozen=True)
class TrainSpec:
    """Iterations, batch size, seed, precision, checkpoint period, torch threads, engine and device.

    ``threads = 1`` by default: per-step loops on small networks run fastest on
    one thread (thread contention measured 4x slow-downs). ``engine = "compiled"`` runs the torch
    backend's compiled loops where it has one (:mod:`neuromorph.backends.torch.compiled`: the forward pass of
    every neuron family, factored e-prop as two compiled passes, online e-prop
    (:mod:`~neuromorph.backends.torch.compiled_online`), e-prop's and RFLO's filters), the torch loop elsewhere;
    ``"torch"`` is the reference loop everywhere (the same numbers: float64 to 1e-12). Left out, the engine is the
    device's default (:func:`~neuromorph.backends.base.resolve_engine`: "compiled" on the CPU, "torch" on a CUDA
    device, where "compiled" is refused). ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``) is where the torch
    backend keeps the network, its state and the optimiser; parameters are drawn on the CPU (the same numbers on
    every device). ``record_every = K`` keeps the recording of iterations K, 2K, ... and the last in the run file
    (``/recorded/<i>``); unset, only the latest recorded iteration is kept (``/last``; docs/cards.md).
    """

    iterations: int = 200
    batch_size: int = 1
    seed: int = 0
    precision: Precision = Precision.FLOAT32
    checkpoint_every: int = 50
    threads: int = 1
    engine: str | None = None  #: resolved in ``__post_init__`` (:func:`~neuromorph.backends.base.resolve_engine`)
    device: str = "cpu"
    record_every: int | None = None  #: keep iterations K, 2K, ... and the last in /recorded (None: /last only)

    def __post_init__(self) -> None:
        check_device(self.device)
        object.__setattr__(self, "engine", resolve_engine(self.engine, self.device))
        for name in ("iterations", "batch_size", "checkpoint_every", "threads", "record_every"):
            if name == "record_every" and self.record_every is None:
                continue
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.seed <= SEED_MAX:
            raise ConfigError(f"train.seed must be in [0, 2**63 - 1], got {self.seed!r}")


@dataclass(frozen=True)
class HardwareSpec:
    """``[hardware]``: train under a chip profile (docs/hardware.md; :mod:`neuromorph.hardware`).

    ``profile`` is a shipped id (``neuromorph profiles``) or a path to a profile file. ``mode``
    ``"on_chip"`` learns with the chip's locality, epochs and update rounding; ``"offline"``
    trains on the host with float shadow weights and a quantised forward pass. ``rounding``
    overrides the update rounding; ``override`` replaces profile values (``"synapse.weight_bits"
    = 4``) for what-if studies, recorded as ``override:`` sources.
    """

    profile: str = "ideal"
    mode: str = "on_chip"
    rounding: str | None = None
    override: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("on_chip", "offline"):
            raise ConfigError(f"hardware.mode must be 'on_chip' or 'offline', got {self.mode!r}")
        if self.rounding not in (None, "nearest", "stochastic"):
            raise ConfigError(f"hardware.rounding must be 'nearest' or 'stochastic', got {self.rounding!r}")


@dataclass(frozen=True)
class RunSpec:
    """Everything a training run needs, resolved."""

    task: Task
    network: NetworkSpec
    init: InitSpec
    rule: plasticity.Rule
    optimizer: OptimizerSpec
    train: TrainSpec
    hardware: HardwareSpec | None = None


NEURONS = dynamics.NEURONS  #: neuron families by ``network.neuron.model`` (each family registers itself)
RULES = plasticity.RULES  #: rules by ``rule.name`` (each rule family registers itself)
SECTIONS = ("task", "network", "rule", "optimizer", "train", "hardware", "bias_study")
SEED_MAX = 2**63 - 1  #: seeds are stored as uint64 and fed to torch.Generator.manual_seed
INT_BOUNDS = (-(2**63), 2**63 - 1)  #: every integer of a card fits an int64
#: ``[bias_study]`` is read by :mod:`neuromorph.bias.study` (``neuromorph bias``); a plain ``train`` ignores it.


def load_card(path: str | Path, overrides: dict[str, Any] | None = None) -> RunSpec:
    """Read a model card; ``overrides`` maps dotted keys (``"train.iterations"``) to values.

    ``path`` is a file, or the name of a shipped card (``eprop_sine`` or ``models/eprop_sine.toml``
    where the working directory has no such file; :func:`neuromorph.data.find_file`).
    """
    path = find_file("models", path)
    card, _ = read_toml(path, "model card")
    return resolve(apply_overrides(card, overrides or {}, str(path)), str(path))


def apply_overrides(card: dict, overrides: dict[str, Any], where: str) -> dict:
    """A copy of ``card`` with dotted-key overrides applied."""
    card = copy.deepcopy(card)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        table = card
        for key in parents:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: cannot override {dotted!r}: {key!r} is not a table")
        table[leaf] = value
    return card


def overridden(table: dict, text: str, overrides: dict[str, Any] | None, where: str) -> tuple[dict, str]:
    """``(table, text)`` of a card read from a file with the command line's ``--set`` overrides applied; the
    text (stored with results) is then the overridden card as TOML, headed by the overrides."""
    if not overrides:
        return table, text
    import tomli_w

    table = apply_overrides(table, overrides, where)
    head = "".join(f"# --set {key}={value!r}\n" for key, value in overrides.items())
    return table, f"# {where} with command-line overrides\n{head}" + tomli_w.dumps(table)


def resolve(card: dict, where: str = "<card>", check_memory_on_load: bool = True) -> RunSpec:
    """Turn a card (nested dict) into a :class:`RunSpec`; with ``check_memory_on_load`` a run that
    cannot fit in the memory available is refused (:func:`neuromorph.memory.check_memory`)."""
    if not isinstance(card, dict):
        raise ConfigError(f"{where}: a model card must be a TOML table, got {type(card).__name__}")
    check_layout(card, "run", where)  # one card schema (neuromorph.cards)
    task = _task(_table(card, "task", where), where)
    net = _table(card, "network", where)
    _check_keys(net, ("n_rec", "dt", "neuron", "readout", "init"), where, "network")
    n_rec = _typed(net.get("n_rec", 100), "int", f"{where} [network] n_rec")
    neuron = _neuron(_table(net, "neuron", where, "network."), n_rec, where)
    readout = _build(ReadoutParameters, net.get("readout", {}), where, "network.readout")
    dt = _typed(net.get("dt", task.dt), "float", f"{where} [network] dt")
    try:
        network = NetworkSpec(n_in=task.n_in, n_rec=n_rec, n_out=task.n_out, neuron=neuron, readout=readout, dt=dt)
    except ConfigError as exc:
        raise ConfigError(f"{where}: [network]: {exc}") from None
    if abs(network.dt - task.dt) > 1e-12:
        raise ConfigError(f"{where}: network.dt = {network.dt} differs from the task's dt = {task.dt}")
    spec = RunSpec(
        task=task,
        network=network,
        init=_build(InitSpec, net.get("init", {}), where, "network.init"),
        rule=_rule(_table(card, "rule", where), where),
        optimizer=_build(OptimizerSpec, card.get("optimizer", {}), where, "optimizer", {"name": _enum(OptimizerName)}),
        train=_build(TrainSpec, card.get("train", {}), where, "train", {"precision": _enum(Precision)}),
        hardware=_hardware(card["hardware"], where) if "hardware" in card else None,
    )
    if spec.hardware is not None and spec.train.device != "cpu":
        raise ConfigError(f"{where}: [hardware] runs a chip's arithmetic on the CPU only; set train.device = \"cpu\" "
                          f"(got {spec.train.device!r})")
    if check_memory_on_load:
        check_memory(spec, where)
    return spec


def resolved_card(spec: RunSpec) -> dict:
    """The complete card of ``spec`` (defaults filled in); ``resolve`` maps it back to ``spec``."""
    neuron = _plain(spec.network.neuron)
    model = type(spec.network.neuron).__dict__.get("model")
    if NEURONS.get(model) is not type(spec.network.neuron):
        raise ConfigError(f"neuron {type(spec.network.neuron).describe()} is not a registered family; give the class "
                          "a unique `model` name (docs/extending.md) to store it in a card")
    neuron = {"model": model, **neuron}
    rule = {"name": spec.rule.name, **_plain(spec.rule)}
    task = {"name": task_name(spec.task), **_plain(spec.task)}
    card = {
        "task": task,
        "network": {
            "n_rec": spec.network.n_rec,
            "dt": spec.network.dt,
            "neuron": neuron,
            "readout": _plain(spec.network.readout),
            "init": _plain(spec.init),
        },
        "rule": rule,
        "optimizer": _plain(spec.optimizer),
        "train": _plain(spec.train),
    }
    if spec.hardware is not None:
        card["hardware"] = {**_plain(spec.hardware), "override": dict(spec.hardware.override)}
    return card


def task_name(task: Any) -> str:
    """The card name of ``task``'s class in ``TASKS``; an unregistered (duck-typed) task is a ConfigError."""
    for name, cls in TASKS.items():
        if cls is type(task):
            return name
    raise ConfigError(f"task {type(task).__qualname__} is not registered in neuromorph.tasks.TASKS, so no card can "
                      "name it: pass it as train(spec, data=task) (neuromorph.tasks.data), or register the class "
                      "(docs/extending.md)")


def card_to_toml(card: dict) -> str:
    """Serialise a card (as from :func:`resolved_card`)."""
    return tomli_w.dumps(card)


# --------------------------------------------------------------------------------------------- helpers


def _table(parent: dict, key: str, where: str, prefix: str = "") -> dict:
    """A copy of the sub-table ``parent[key]`` ({} if absent); a non-table value is a ConfigError."""
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{prefix}{key}] must be a table, got {value!r}")
    return dict(value)


def _task(table: dict, where: str) -> Task:
    name = table.pop("name", None)
    if not isinstance(name, str) or name not in TASKS:
        raise ConfigError(f"{where}: [task] name must be one of {sorted(TASKS)}, got {name!r}")
    return _build(TASKS[name], table, where, "task")


def _neuron(table: dict, n_rec: int, where: str) -> dynamics.Neuron:
    model = table.pop("model", "lif")
    if not isinstance(model, str) or model not in NEURONS:
        raise ConfigError(f"{where}: network.neuron.model must be one of {sorted(NEURONS)}, got {model!r}")
    n_adaptive = table.pop("n_adaptive", None) if model == "alif" else None
    if n_adaptive is not None:
        n_adaptive = _typed(n_adaptive, "int", f"{where} [network.neuron] n_adaptive")
        if not 0 <= n_adaptive <= n_rec:
            raise ConfigError(f"{where}: network.neuron.n_adaptive must be in [0, {n_rec}], got {n_adaptive}")
        beta = _typed(table.get("beta", 0.07), "float", f"{where} [network.neuron] beta")
        table["beta"] = tuple([0.0] * (n_rec - n_adaptive) + [beta] * n_adaptive)
    return _build(NEURONS[model], table, where, "network.neuron", {"beta": _beta, "activation": _enum(Activation)})


def _hardware(table: Any, where: str) -> HardwareSpec:
    def flat(value: Any, label: str, prefix: str = "") -> tuple[tuple[str, Any], ...]:
        if not isinstance(value, dict):
            raise ConfigError(f"{label} must be a table of profile keys, e.g. {{ \"synapse.weight_bits\" = 4 }}")
        items: list[tuple[str, Any]] = []
        for key, item in value.items():
            if isinstance(item, dict):
                items += flat(item, label, f"{prefix}{key}.")
            else:
                items.append((f"{prefix}{key}", item))
        return tuple(sorted(items))

    return _build(HardwareSpec, table, where, "hardware", {"override": flat})


def _rule(table: dict, where: str) -> plasticity.Rule:
    name = table.pop("name", "eprop")
    if not isinstance(name, str) or name not in RULES:
        raise ConfigError(f"{where}: [rule] name must be one of {sorted(RULES)}, got {name!r}")
    converters = {
        "feedback": _enum(Feedback),
        "mode": _enum(Mode),
        "targets": _targets,
        "decay": _decay,
        "regularization": lambda v, w: _build(RateRegularization, v, where, "rule.regularization"),
    }
    table.pop("name", None)
    return _build(RULES[name], table, where, "rule", converters)


def _build(cls: type, table: Any, where: str, section: str, converters: dict[str, Callable] | None = None):
    """Instantiate dataclass ``cls`` from ``table``, checking keys and simple types."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{section}] must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    _check_keys(table, tuple(fields), where, section)
    converters = converters or {}
    kwargs = {}
    for key, value in table.items():
        label = f"{where} [{section}] {key}"
        kwargs[key] = converters[key](value, label) if key in converters else _typed(value, fields[key].type, label)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"{where}: [{section}]: {exc}") from None


def _check_keys(table: dict, allowed: tuple[str, ...], where: str, section: str) -> None:
    for key in table:
        if key not in allowed:
            place = f"[{section}] " if section else ""
            raise ConfigError(f"{where}: unknown key {place}{key!r}; allowed keys: {', '.join(sorted(allowed))}")


_SIMPLE = {"float": (float, int), "int": (int,), "bool": (bool,), "str": (str,)}


def _typed(value: Any, annotation: Any, label: str) -> Any:
    """Check a scalar against a simple annotation ('float', 'int | None', ...)."""
    names = [a.strip() for a in str(annotation).split("|")]
    if value is None and "None" in names:
        return None
    for name in names:
        accepted = _SIMPLE.get(name)
        if accepted and isinstance(value, accepted) and not (name != "bool" and isinstance(value, bool)):
            if name == "float" and not math.isfinite(value):
                raise ConfigError(f"{label} must be a finite number, got {value!r}")
            if name == "int" and not INT_BOUNDS[0] <= value <= INT_BOUNDS[1]:
                raise ConfigError(f"{label} must be an integer in [-2**63, 2**63 - 1], got {value!r}")
            return float(value) if name == "float" else value
    if not any(n in _SIMPLE for n in names):
        return value
    raise ConfigError(f"{label} must be {' or '.join(names)}, got {value!r}")


def _enum(cls: type[enum.Enum]) -> Callable:
    def convert(value: Any, label: str):
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"{label} must be one of {[m.value for m in cls]}, got {value!r}") from None

    return convert


def _targets(value: Any, label: str) -> frozenset[Target]:
    if not isinstance(value, list):
        raise ConfigError(f"{label} must be a list of {[t.value for t in Target]}, got {value!r}")
    return frozenset(_enum(Target)(v, label) for v in value)


def _beta(value: Any, label: str) -> float | tuple[float, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(_typed(v, "float", label) for v in value)
    return _typed(value, "float", label)


def _decay(value: Any, label: str) -> float | tuple[float, ...] | str:
    if isinstance(value, str):
        return value
    return _beta(value, label)


def _plain(obj: Any) -> Any:
    """Dataclass → TOML-ready dict (enums to values, sets to sorted lists, None dropped)."""
    if dataclasses.is_dataclass(obj):
        return {
            f.name: _plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.init and getattr(obj, f.name) is not None
        }
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (frozenset, set)):
        return sorted(_plain(v) for v in obj)
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj


# Public names for other card formats (e.g. ``neuromorph theory compare``) that share the checks.
build_section = _build
parse_neuron = _neuron  #: ``parse_neuron(table, n, where)``: a ``[network.neuron]`` table as a neuron family
check_keys = _check_keys
floats = _beta
