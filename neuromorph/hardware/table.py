"""Tables for people: the profiles' key limits, and which rule runs on which chip."""

from __future__ import annotations

import math

from neuromorph.errors import HardwareProfileError
from neuromorph.hardware.profile import HardwareProfile, load_profile, profile_names


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
