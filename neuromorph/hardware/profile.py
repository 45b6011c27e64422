"""Loading hardware profiles into typed, frozen objects.

``load_profile("loihi2")`` reads the shipped ``loihi2.toml`` (package data in ``neuromorph/data/hardware_profiles/``,
found through :mod:`importlib.resources` by :mod:`neuromorph.data`); a path loads a user's own profile. The
file is validated against :mod:`.schema` first, then the keys the simulator and the locality check use are
lifted into the dataclasses below; every other value stays available, with its source, in
:attr:`HardwareProfile.leaves`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuromorph.data import find_file, shipped_dir, shipped_names
from neuromorph.errors import ConfigError, HardwareProfileError
from neuromorph.hardware.schema import Leaf, validate
from neuromorph.tomlfile import read_toml

#: the shipped profiles (package data; the checkout's ``hardware_profiles/`` links here)
PROFILE_DIR = shipped_dir("hardware_profiles")


@dataclass(frozen=True)
class StateFormat:
    """The neuron state: ``int`` (integer of ``bits`` magnitude bits), float32/float64, or analog."""

    format: str
    decay: str  #: mul_shift | bitshift | exact | analog
    reset: str  #: zero | subtract
    bits: int | None = None
    overflow: str | None = None  #: saturate | wrap
    decay_bits: int | None = None
    threshold_lsb: int | None = None  #: v_th in state LSBs; the state step is v_th / threshold_lsb
    bias_bits: int | None = None


@dataclass(frozen=True)
class WeightFormat:
    """Synaptic weights: ``int`` with a shared exponent per matrix, an analog gain, or float."""

    format: str
    signed: bool
    bits: int | None = None
    scale: str | None = None  #: shared_exp | gain
    exp_range: tuple[int, int] | None = None
    shift: int = 0


@dataclass(frozen=True)
class TraceFormat:
    """Pre- or postsynaptic traces."""

    format: str
    signed: bool
    count: float
    bits: int | None = None
    impulse: int | None = None  #: integer added per spike; the trace step is s_in / impulse
    rounding: str = "nearest"


@dataclass(frozen=True)
class Plasticity:
    """On-chip learning: engine, targets, update period, rounding, learning-rate format."""

    on_chip: bool
    engine: str
    targets: tuple[str, ...] = ()
    bias_learning: str = "none"
    update_period: tuple[int, float] = (1, math.inf)  #: [min, max] steps; max inf = unlimited
    rounding: str = "none"
    accumulator_bits: float = math.nan  #: magnitude bits of the update accumulator (nan: none)
    lr_kind: str = "float64"
    lr_mant_bits: int | None = None
    optimizers: tuple[str, ...] = ()
    eligibility: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SignalSpec:
    """A signal a plasticity rule may read on the chip."""

    name: str
    scope: str
    bits: float = math.nan
    signed: bool | None = None
    count: float = 1.0
    via: str = ""


@dataclass(frozen=True)
class Transport:
    """A way to bring a value computed elsewhere to a scope a rule may read."""

    name: str
    source: str
    to: str
    latency_steps: float = math.nan
    cost: str = ""


@dataclass(frozen=True)
class Locality:
    """What a rule may read on chip, and whether it may keep history."""

    allowed_scopes: tuple[str, ...]
    enforced_by: str
    temporal: str  #: any | online | none
    history_steps: float
    signals: dict[str, SignalSpec]
    transports: dict[str, Transport]


@dataclass(frozen=True)
class HardwareProfile:
    """A validated profile. ``leaves`` maps ``"table.key"`` to every value with its source."""

    id: str
    name: str
    kind: str
    fidelity: str
    path: Path
    dt_s: float
    models: tuple[str, ...]
    state: StateFormat
    weights: WeightFormat
    traces: dict[str, TraceFormat]
    plasticity: Plasticity
    locality: Locality
    limits: dict[str, float]
    sources: dict[str, str]
    leaves: dict[str, Leaf]

    def value(self, key: str, default: Any = None) -> Any:
        leaf = self.leaves.get(key)
        return default if leaf is None else leaf.value

    def src(self, key: str) -> str:
        leaf = self.leaves.get(key)
        return "" if leaf is None else leaf.src

    @property
    def ideal(self) -> bool:
        """True when nothing is quantised and every rule may run: the float64 reference."""
        return (self.state.format == "float64" and self.weights.format == "float64"
                and all(t.format == "float64" for t in self.traces.values()) and self.locality.temporal == "any")


def profile_names() -> list[str]:
    """Ids of the shipped profiles."""
    return shipped_names("hardware_profiles")


def load_profile(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> HardwareProfile:
    """Load a shipped profile by id, or a profile file by path.

    ``overrides`` maps ``"table.key"`` to a replacement value (e.g. ``{"synapse.weight_bits": 4}``
    for a what-if sweep); the value is validated like the file's own and its source becomes
    ``"override: ..."``.
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise HardwareProfileError(f"unknown hardware profile {str(name_or_path)!r}; shipped profiles: "
                                       f"{', '.join(profile_names())} (or give a path to a .toml file)")
    else:
        try:  # hardware_profiles/loihi2.toml names the shipped file where the cwd has no such file
            path = find_file("hardware_profiles", path)
        except ConfigError as exc:
            raise HardwareProfileError(str(exc)) from None
    raw, _ = read_toml(path, "hardware profile", HardwareProfileError)
    for dotted, value in (overrides or {}).items():
        _override(raw, dotted, value, path)
    return build(raw, path)


def _override(raw: dict, dotted: str, value: Any, path: Path) -> None:
    *tables, key = dotted.split(".")
    body = raw
    for name in tables:
        body = body.get(name)
        if not isinstance(body, dict):
            raise HardwareProfileError(f"cannot override {dotted!r}: {path} has no table [{'.'.join(tables)}]")
    body[key] = {"value": value, "src": "override: set by the model card"}


def build(raw: dict, path: Path) -> HardwareProfile:
    """Validate a parsed profile and lift it into a :class:`HardwareProfile`."""
    where = str(path)
    meta, sources, leaves = validate(raw, where)
    if path.suffix == ".toml" and path.parent == PROFILE_DIR and meta["id"] != path.stem:
        raise HardwareProfileError(f"{where}: [meta] id is {meta['id']!r} but the file is named {path.stem!r}")
    v = {k: leaf.value for k, leaf in leaves.items()}

    def need(key: str, why: str) -> Any:
        if key not in v:
            table, name = key.rsplit(".", 1)
            raise HardwareProfileError(f"{where}: [{table}] is missing the key {name!r} ({why})")
        return v[key]

    state_format = v["neuron.state_format"]
    integer_state = state_format == "int"
    if integer_state:
        for key in ("state_bits", "state_overflow", "threshold_lsb"):
            need(f"neuron.{key}", "an integer membrane needs its width, overflow and threshold in LSBs")
    if integer_state and v["neuron.threshold_lsb"] > 2 ** v["neuron.state_bits"] - 1:
        raise HardwareProfileError(
            f"{where}: [neuron] threshold_lsb = {v['neuron.threshold_lsb']} is unreachable by a state of "
            f"state_bits = {v['neuron.state_bits']} magnitude bits (at most {2 ** v['neuron.state_bits'] - 1})")
    decay = v["neuron.decay"]
    if integer_state and decay["kind"] not in ("mul_shift", "bitshift"):
        raise HardwareProfileError(f"{where}: [neuron] decay: an integer state needs kind 'mul_shift' or 'bitshift', got {decay['kind']!r}")
    if decay["kind"] == "mul_shift" and "bits" not in decay:
        raise HardwareProfileError(f"{where}: [neuron] decay: kind 'mul_shift' needs bits (Loihi: 12)")
    state = StateFormat(state_format, decay["kind"], v["neuron.reset"], v.get("neuron.state_bits"),
                        v.get("neuron.state_overflow"), decay.get("bits"), v.get("neuron.threshold_lsb"),
                        v.get("neuron.bias_bits"))
    weights = _weights(v, where, need)
    traces = {side: _trace(v, side, where) for side in ("pre", "post") if f"traces.{side}.format" in v}
    plasticity = _plasticity(v, where, need)
    locality = _locality(v)
    limits = {k.split(".", 1)[1]: float(val) for k, val in v.items() if k.startswith("limits.")}
    return HardwareProfile(
        id=meta["id"], name=meta["name"], kind=meta["kind"], fidelity=v["meta.fidelity"], path=path,
        dt_s=float(v["time.dt_s"]), models=tuple(v["neuron.models"]), state=state, weights=weights, traces=traces,
        plasticity=plasticity, locality=locality, limits=limits, sources=sources, leaves=leaves,
    )


def _weights(v: dict, where: str, need) -> WeightFormat:
    fmt = v["synapse.weight_format"]
    if fmt not in ("int", "analog"):
        return WeightFormat(fmt, v["synapse.weight_signed"])
    bits = need("synapse.weight_bits", f"{fmt} weights need a width")
    scale = need("synapse.weight_scale", f"{fmt} weights need a scale (shared_exp or gain)")
    if fmt == "int" and scale["kind"] != "shared_exp":
        raise HardwareProfileError(f"{where}: [synapse] weight_scale: integer weights need kind 'shared_exp'")
    if scale["kind"] == "shared_exp" and "range" not in scale:
        raise HardwareProfileError(f"{where}: [synapse] weight_scale: kind 'shared_exp' needs range = [min, max]")
    exp_range = tuple(scale["range"]) if "range" in scale else None
    return WeightFormat(fmt, v["synapse.weight_signed"], bits, scale["kind"], exp_range, scale.get("shift", 0))


def _trace(v: dict, side: str, where: str) -> TraceFormat:
    p = f"traces.{side}"
    fmt = v[f"{p}.format"]
    if fmt == "int":
        for key in ("bits", "impulse", "rounding"):
            if f"{p}.{key}" not in v:
                raise HardwareProfileError(f"{where}: [{p}] is missing the key {key!r} (integer traces need bits, impulse and rounding)")
    return TraceFormat(fmt, v[f"{p}.signed"], float(v[f"{p}.count"]), v.get(f"{p}.bits"), v.get(f"{p}.impulse"),
                       v.get(f"{p}.rounding", "nearest"))


def _plasticity(v: dict, where: str, need) -> Plasticity:
    on_chip, engine = v["plasticity.on_chip"], v["plasticity.engine"]
    if not on_chip:
        return Plasticity(False, engine)
    why = "a chip with on-chip learning must say how updates are applied"
    for key in ("targets", "bias_learning", "update_period_steps", "rounding", "lr_format", "optimizers", "eligibility_store"):
        need(f"plasticity.{key}", why)
    lo, hi = v["plasticity.update_period_steps"]
    lr = v["plasticity.lr_format"]
    if lr["kind"] == "mant_exp" and "mant_bits" not in lr:
        raise HardwareProfileError(f"{where}: [plasticity] lr_format: kind 'mant_exp' needs mant_bits")
    return Plasticity(
        True, engine, tuple(v["plasticity.targets"]), v["plasticity.bias_learning"],
        (lo, math.inf if isinstance(hi, float) and math.isnan(hi) else hi), v["plasticity.rounding"],
        float(v.get("plasticity.accumulator_bits", math.nan)), lr["kind"], lr.get("mant_bits"),
        tuple(v["plasticity.optimizers"]), dict(v["plasticity.eligibility_store"]),
    )


def _locality(v: dict) -> Locality:
    signals = {
        k.rsplit(".", 1)[1]: SignalSpec(k.rsplit(".", 1)[1], s["scope"], float(s.get("bits", math.nan)),
                                        s.get("signed"), float(s.get("count", 1)), s.get("via", ""))
        for k, s in v.items() if k.startswith("locality.signals.")
    }
    transports = {
        k.rsplit(".", 1)[1]: Transport(k.rsplit(".", 1)[1], t["from"], t["to"],
                                       float(t.get("latency_steps", math.nan)), t.get("cost", ""))
        for k, t in v.items() if k.startswith("locality.transports.")
    }
    return Locality(tuple(v["locality.allowed_scopes"]), v["locality.enforced_by"], v["locality.temporal"],
                    float(v["locality.history_steps"]), signals, transports)
