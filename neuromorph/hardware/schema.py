"""The hardware-profile schema: which keys a profile has, their types, and their sources.

A profile (``hardware_profiles/<id>.toml``) follows docs/hardware.md, simplified where the
simulator needs less. Every leaf is ``{ value = ..., src = "..." }``; ``src`` starts with an
id from the file's ``[sources]`` table, or with ``assumed``, ``derived:``, ``n/a:`` or
``override:`` (a value replaced from a model card). TOML has no null: an unknown or unlimited
number is ``nan``, allowed only where the schema says so.

:func:`validate` walks a parsed file against :data:`SCHEMA` and returns the flat
``{"table.key": Leaf}`` map; every error names the file, the key and what was expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from neuromorph.dynamics import NEURONS
from neuromorph.errors import HardwareProfileError

SCHEMA_VERSION = 1
SCOPES = ("synapse", "pre", "post", "core", "chip", "host")
SIGNALS = (
    "pre_spike", "pre_trace", "post_spike", "post_trace", "post_state", "pseudo_derivative",
    "third_factor", "global_signal", "synapse_state",
)
_SRC_PREFIXES = ("assumed", "derived:", "n/a:", "override:")


@dataclass(frozen=True)
class Field:
    """One key: its kind, whether it is required, and what values are allowed.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str``, ``strs`` (list of str), ``range``
    (``[lo, hi]`` of ints; ``hi`` may be nan) or ``table`` (an inline table checked by ``sub``).
    """

    kind: str
    required: bool = True
    choices: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    nan: bool = False
    sub: dict[str, Field] | None = None

    def describe(self) -> str:
        what = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
                "strs": "a list of strings", "range": "[min, max]", "table": "an inline table"}[self.kind]
        if self.choices:
            what += f" from {list(self.choices)}"
        if self.lo is not None or self.hi is not None:
            what += f" in [{self.lo if self.lo is not None else '-inf'}, {self.hi if self.hi is not None else 'inf'}]"
        if self.nan:
            what += " (or nan)"
        return what


@dataclass(frozen=True)
class Leaf:
    """A validated value and its source."""

    value: Any
    src: str


_OPT = {"required": False}
_LIMIT = Field("float", required=False, lo=1, nan=True)
_FORMATS = ("int", "float32", "float64", "analog")
_TRACE = {
    "format": Field("str", choices=_FORMATS),
    "count": Field("float", lo=0, nan=True),
    "bits": Field("int", required=False, lo=1, hi=52),
    "signed": Field("bool"),
    "impulse": Field("int", required=False, lo=1),
    "rounding": Field("str", required=False, choices=("stochastic", "nearest")),
    "programmable": Field("bool", required=False),
}
_SIGNAL = Field("table", sub={
    "scope": Field("str", choices=SCOPES),
    "bits": Field("float", required=False, lo=1, nan=True),
    "signed": Field("bool", required=False),
    "count": Field("float", required=False, lo=1, nan=True),
    "via": Field("str", required=False),
})
_TRANSPORT = Field("table", sub={
    "from": Field("str"),
    "to": Field("str", choices=SCOPES),
    "latency_steps": Field("float", required=False, lo=0, nan=True),
    "bits": Field("float", required=False, lo=1, nan=True),
    "cost": Field("str", required=False),
})

#: table -> key -> Field. ``None`` marks a table of free leaves (``[energy]``, ``[analog]``).
SCHEMA: dict[str, dict[str, Field] | None] = {
    "meta": {
        "fidelity": Field("str", choices=("exact", "approximate", "indicative")),
        "emulators": Field("strs", **_OPT),
    },
    "time": {
        "continuous": Field("bool"),
        "dt_s": Field("float", lo=1e-9),
        "acceleration": Field("float", lo=1e-9),
    },
    "limits": {k: _LIMIT for k in (
        "cores", "neurons_per_core", "neurons_total", "inputs_max", "outputs_max", "synapses_total",
        "fan_in_max", "fan_out_max", "synapse_memory_bytes_per_core", "axons_in_per_core",
        "spikes_per_step_max", "sources_per_row", "plasticity_memory_bytes_per_core")},
    "neuron": {
        "models": Field("strs", choices=(*sorted(NEURONS), "programmable", "adex", "lif_2syn", "multicompartment")),
        "state_format": Field("str", choices=_FORMATS),
        "state_bits": Field("int", required=False, lo=1, hi=52),
        "state_overflow": Field("str", required=False, choices=("saturate", "wrap")),
        "decay": Field("table", sub={
            "kind": Field("str", choices=("mul_shift", "bitshift", "exact", "analog")),
            "bits": Field("int", required=False, lo=1, hi=32),
        }),
        "threshold_lsb": Field("int", required=False, lo=1),
        "reset": Field("str", choices=("zero", "subtract")),
        "bias_bits": Field("int", required=False, lo=1, hi=52),
        "graded_spike_bits": Field("int", required=False, lo=0),
        "state_readout_bits": Field("int", required=False, lo=1),
        "param_bits": Field("int", required=False, lo=1),
    },
    "synapse": {
        "weight_format": Field("str", choices=_FORMATS),
        "weight_bits": Field("int", required=False, lo=1, hi=52),
        "weight_signed": Field("bool"),
        "sign_granularity": Field("str", choices=("synapse", "connection", "row")),
        "weight_scale": Field("table", required=False, sub={
            "kind": Field("str", choices=("shared_exp", "gain")),
            "range": Field("range", required=False),
            "shift": Field("int", required=False),
        }),
        "delay_bits": Field("int", required=False, lo=0),
    },
    "traces.pre": _TRACE,
    "traces.post": _TRACE,
    "plasticity": {
        "on_chip": Field("bool"),
        "engine": Field("str", choices=("sum_of_products", "embedded_processor", "general_purpose", "none")),
        "targets": Field("strs", required=False, choices=("weight", "delay", "tag", "label", "bias", "neuron_params")),
        "bias_learning": Field("str", required=False, choices=("native", "bias_synapse", "host", "none")),
        "update_period_steps": Field("range", required=False, lo=1),
        "rounding": Field("str", required=False, choices=("stochastic", "nearest", "none")),
        "rng": Field("str", required=False, choices=("per_synapse", "shared_per_step", "software", "none")),
        "accumulator_bits": Field("float", required=False, lo=1, nan=True),
        "lr_format": Field("table", required=False, sub={
            "kind": Field("str", choices=("mant_exp", "float32", "float64")),
            "mant_bits": Field("int", required=False, lo=1, hi=52),
        }),
        "optimizers": Field("strs", required=False, choices=("sgd", "adam")),
        "eligibility_store": Field("table", required=False, sub={
            "per": Field("str", choices=("synapse", "neuron")),
            "bits": Field("float", lo=1, nan=True),
            "signed": Field("bool"),
            "var": Field("str", required=False),
            "note": Field("str", required=False),
        }),
        "rule_form": Field("table", required=False, sub={}),
        "offline_training": Field("strs", required=False),
    },
    "locality": {
        "allowed_scopes": Field("strs", choices=SCOPES),
        "enforced_by": Field("str", choices=("hardware", "software")),
        "temporal": Field("str", choices=("any", "online", "none")),
        "history_steps": Field("float", lo=0, nan=True),
    },
    "locality.signals": {name: Field("table", required=False, sub=_SIGNAL.sub) for name in SIGNALS},
    "locality.transports": None,
    "analog": None,
    "energy": None,
}
_PLAIN_META = ("id", "name", "kind", "notes")
_KINDS = ("ideal", "digital", "mixed_signal", "manycore")


def validate(raw: dict, where: str) -> tuple[dict[str, str], dict[str, str], dict[str, Leaf]]:
    """Check a parsed profile; returns ``(meta, sources, leaves)`` with leaves keyed ``"table.key"``."""
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise HardwareProfileError(f"{where}: schema_version must be {SCHEMA_VERSION}, got {raw.get('schema_version')!r}")
    tables = _tables(raw, where)
    unknown = sorted(set(tables) - set(SCHEMA) - {"meta", "sources"})
    if unknown:
        raise HardwareProfileError(f"{where}: unknown table [{unknown[0]}]; allowed tables: {', '.join(sorted(SCHEMA))}, sources")
    sources = tables.get("sources", {})
    for key, text in sources.items():
        if not isinstance(text, str) or not text:
            raise HardwareProfileError(f"{where}: [sources] {key}: expected a citation string, got {text!r}")
    meta = _meta(tables.get("meta", {}), where)
    leaves: dict[str, Leaf] = {}
    for table, fields in SCHEMA.items():
        body = tables.get(table, {})
        if table == "meta":
            body = {k: v for k, v in body.items() if k not in _PLAIN_META}
        for key, value in body.items():
            label = f"{where}: [{table}] {key}"
            field = None if fields is None else fields.get(key)
            if fields is not None and field is None:
                raise HardwareProfileError(f"{label}: unknown key; allowed keys: {', '.join(sorted(fields))}")
            if table == "locality.transports":
                field = _TRANSPORT
            leaf = _leaf(value, label, sources)
            if field is not None:
                _check(field, leaf.value, label)
            leaves[f"{table}.{key}"] = leaf
        for key, field in (fields or {}).items():
            if field.required and f"{table}.{key}" not in leaves and _table_required(table, tables):
                raise HardwareProfileError(f"{where}: [{table}] is missing the key {key!r} ({field.describe()})")
    return meta, sources, leaves


def _tables(raw: dict, where: str) -> dict[str, dict]:
    """Flatten nested tables (``[traces.pre]``) to dotted names."""
    out: dict[str, dict] = {}
    for name, body in raw.items():
        if name == "schema_version":
            continue
        if not isinstance(body, dict):
            raise HardwareProfileError(f"{where}: top-level key {name!r} must be a table")
        if name in ("traces", "locality"):
            for sub in [k for k, v in body.items() if isinstance(v, dict) and "value" not in v and "v" not in v]:
                out[f"{name}.{sub}"] = body[sub]
            body = {k: v for k, v in body.items() if f"{name}.{k}" not in out}
            if name == "traces":
                if body:
                    raise HardwareProfileError(f"{where}: [traces] holds only the tables [traces.pre] and [traces.post]")
                continue
        out[name] = body
    return out


def _table_required(table: str, tables: dict) -> bool:
    """Optional tables: [traces.*] and [locality.signals] may be absent (no on-chip learning)."""
    return table in tables or table in ("meta", "time", "neuron", "synapse", "plasticity", "locality")


def _meta(meta: dict, where: str) -> dict[str, str]:
    for key in ("id", "name", "kind"):
        if not isinstance(meta.get(key), str) or not meta.get(key):
            raise HardwareProfileError(f"{where}: [meta] {key}: expected a non-empty string, got {meta.get(key)!r}")
    if meta["kind"] not in _KINDS:
        raise HardwareProfileError(f"{where}: [meta] kind: expected one of {list(_KINDS)}, got {meta['kind']!r}")
    return {k: meta[k] for k in _PLAIN_META if k in meta}


def _leaf(value: Any, label: str, sources: dict) -> Leaf:
    if not isinstance(value, dict) or set(value) - {"value", "v", "src"} or "src" not in value \
            or ("value" in value) == ("v" in value):
        raise HardwareProfileError(f"{label}: expected {{ value = ..., src = \"...\" }}, got {value!r}")
    src = value["src"]
    if not isinstance(src, str) or not src.strip():
        raise HardwareProfileError(f"{label}: src must be a non-empty string, got {src!r}")
    head = re.split(r"[\s:(@,;]", src.strip(), maxsplit=1)[0]
    if head not in sources and not src.startswith(_SRC_PREFIXES):
        raise HardwareProfileError(
            f"{label}: src {src!r} must start with an id from [sources] ({', '.join(sorted(sources)) or 'none'}) "
            "or with 'assumed', 'derived:', 'n/a:'"
        )
    return Leaf(value.get("value", value.get("v")), src)


def _check(field: Field, value: Any, label: str) -> None:
    bad = HardwareProfileError(f"{label}: expected {field.describe()}, got {value!r}")
    if field.kind == "table":
        if not isinstance(value, dict):
            raise bad
        if field.sub:
            for key, item in value.items():
                if key not in field.sub:
                    raise HardwareProfileError(f"{label}: unknown entry {key!r}; allowed: {', '.join(sorted(field.sub))}")
                _check(field.sub[key], item, f"{label}.{key}")
            for key, sub in field.sub.items():
                if sub.required and key not in value:
                    raise HardwareProfileError(f"{label}: missing entry {key!r} ({sub.describe()})")
        return
    if field.kind == "strs":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        if field.choices and any(v not in field.choices for v in value):
            raise bad
        return
    if field.kind == "range":
        ok = isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and not isinstance(value[0], bool) \
            and (isinstance(value[1], int) and not isinstance(value[1], bool) and value[1] >= value[0]
                 or isinstance(value[1], float) and math.isnan(value[1]))
        if not ok:
            raise bad
        if field.lo is not None and value[0] < field.lo:
            raise bad
        return
    types = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}[field.kind]
    if not isinstance(value, types) or (field.kind in ("int", "float") and isinstance(value, bool)):
        raise bad
    if field.choices and value not in field.choices:
        raise bad
    if isinstance(value, float) and math.isnan(value):
        if not field.nan:
            raise bad
        return
    if isinstance(value, float) and math.isinf(value):
        raise bad  # an unknown or unlimited number is nan (module docstring), never inf
    if field.lo is not None and value < field.lo or field.hi is not None and value > field.hi:
        raise bad
