"""Tables for people: the profiles' key limits, and which rule runs on which chip."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuromorph.errors import HardwareProfileError
from neuromorph.hardware.profile import HardwareProfile, load_profile, profile_names

#: Reads a model card with overrides into a run spec, e.g. :func:`neuromorph.config.load_card`. The
#: caller passes it in: hardware sits below the card layer and never imports it.
CardLoader = Callable[[Path, dict], Any]


def _weights(p: HardwareProfile) -> str:
    w = p.weights
    if w.format == "int":
        return f"int{w.bits}{'+s' if w.signed else ''} 2^e"
    if w.format == "analog":
        return f"analog {w.bits}b"
    return w.format


def _state(p: HardwareProfile) -> str:
    s = p.state
    return f"int{s.bits}+s {s.decay}" if s.format == "int" else s.format


def _traces(p: HardwareProfile) -> str:
    t = p.traces.get("pre")
    if t is None:
        return "-"
    return f"int{t.bits}{'' if t.signed else 'u'} {t.rounding[:5]}" if t.format == "int" else t.format


def _learning(p: HardwareProfile) -> str:
    pl = p.plasticity
    if not pl.on_chip:
        return "none"
    hi = "inf" if math.isinf(pl.update_period[1]) else f"{pl.update_period[1]:g}"
    return f"{pl.engine}, every {pl.update_period[0]}..{hi}, {pl.rounding}"


def profiles_table() -> str:
    """One row per shipped profile: fidelity, state, weights, traces, learning, readable scopes."""
    header = ("profile", "fidelity", "membrane", "weights", "traces", "on-chip learning", "scopes", "temporal")
    rows = [header]
    for name in profile_names():
        try:
            p = load_profile(name)
        except HardwareProfileError as exc:
            rows.append((name, "INVALID", str(exc), "", "", "", "", ""))
            continue
        rows.append((p.id, p.fidelity, _state(p), _weights(p), _traces(p), _learning(p),
                     ",".join(p.locality.allowed_scopes) or "-", p.locality.temporal))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


#: The documented rule x profile cases (docs/hardware.md): a label, a model card, card overrides.
RULE_CASES: tuple[tuple[str, str, dict], ...] = (
    ("e-prop, tutorial card (Adam, one update per sequence, rate regulariser)", "models/eprop_sine.toml", {}),
    ("e-prop, chip card (SGD, epoch 50, split signal)", "models/eprop_sine_chip.toml", {}),
    ("  ... without the sign split", "models/eprop_sine_chip.toml", {"rule.split_signed": False}),
    ("  ... with symmetric feedback", "models/eprop_sine_chip.toml", {"rule.feedback": "symmetric"}),
    ("  ... ALIF neurons", "models/eprop_sine_chip.toml", {"network.neuron.model": "alif"}),
    ("  ... learning biases too", "models/eprop_sine_chip.toml", {"rule.targets": ["w_in", "w_rec", "w_out", "bias"]}),
    ("RFLO, chip card", "models/eprop_sine_chip.toml", {"rule.name": "rflo"}),
    ("BPTT", "models/bptt_sine.toml", {}),
    ("BPTT, trained on the host (--mode offline)", "models/bptt_sine.toml", {"hardware.mode": "offline"}),
)


def rule_profile_matrix(load_card: CardLoader, root: str = ".") -> list[tuple[str, dict[str, str]]]:
    """For each case of :data:`RULE_CASES`, each shipped profile's verdict: ``runs``, ``runs (bias mapped)``
    or ``rejected: <topics>``. ``load_card(path, overrides)`` reads the case's card under ``root``."""
    from neuromorph.hardware.setup import check_run

    rows = []
    for label, card, overrides in RULE_CASES:
        cells = {}
        for name in profile_names():
            report = check_run(load_card(Path(root) / card, {**overrides, "hardware.profile": name}))
            if report.ok:
                mapped = [f.topic for f in report.findings if f.level == "mapped"]
                cells[name] = "runs" + (f" ({', '.join(mapped)} mapped)" if mapped else "")
            else:
                cells[name] = "rejected: " + ", ".join(dict.fromkeys(f.topic for f in report.rejections))
        rows.append((label, cells))
    return rows


def rule_profile_markdown(load_card: CardLoader, root: str = ".") -> str:
    """:func:`rule_profile_matrix` as a Markdown table (``neuromorph profiles --rules``; docs/hardware.md)."""
    rows = rule_profile_matrix(load_card, root)
    names = profile_names()
    lines = ["| rule | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {label.strip()} | " + " | ".join(cells[n] for n in names) + " |" for label, cells in rows]
    return "\n".join(lines)
