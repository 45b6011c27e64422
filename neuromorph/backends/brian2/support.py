"""What the brian2 backend runs, checked at setup: anything else fails before a simulation starts."""

from __future__ import annotations

from neuromorph.errors import ConfigError
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec
from neuromorph.plasticity import RFLO, EProp

TARGETS = ("numpy", "cython", "cpp_standalone")


class UnsupportedFeatureError(ConfigError):
    """A model feature the brian2 backend does not lower (yet); the message names the feature and the way out."""


def _no(feature: str, fix: str = "run it with --backend torch") -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"the brian2 backend does not support {feature} yet; {fix}")


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise ConfigError(f"brian2 target must be one of {', '.join(TARGETS)}, got {target!r}")


def check_supported(spec: NetworkSpec, rule, chip: ChipNumerics | None, target: str,
                    update_interval: int | None = None, n_steps: int | None = None) -> None:
    """Raise :class:`UnsupportedFeatureError` for what :mod:`.network` cannot lower."""
    check_target(target)
    if rule is not None and not isinstance(rule, (EProp, RFLO)):
        raise _no(f"the {rule.name!r} rule (it runs e-prop and RFLO: LIF, ALIF and rate units, bias-only tuning "
                  "included)")
    if chip is not None:
        g, tr = chip.state, chip.traces
        if g is not None and g.kind == "float32":
            raise _no("float32 membrane states (the brian2 backend computes in float64)")
        if tr is not None and tr.kind == "float32":
            raise _no("float32 traces (the brian2 backend computes in float64)")
        if tr is not None and tr.rounding != "nearest":
            raise _no(f"{tr.rounding} rounding of traces (the torch backend draws those random numbers)",
                      "set the profile's traces to nearest rounding (hardware.override) or use --backend torch")
    if target == "cpp_standalone" and update_interval is not None and n_steps is not None and update_interval < n_steps:
        raise _no("updates inside a sequence (rule.update_interval) in cpp_standalone, which cannot hand "
                  "control back to Python mid-run", "use --target numpy or cython")
