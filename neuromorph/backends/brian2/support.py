"""What the brian2 backend runs, checked at setup: anything else fails before a simulation starts.

Neurons and rules are looked up by their exact class in :data:`.neurons.NEURON_CODE` and
:data:`.rules.RULE_CODE`; a class without an entry (a subclass included: it may step or compute
differently) is refused with a message naming it.
"""

from __future__ import annotations

from neuromorph.backends.brian2.neurons import NEURON_CODE, NeuronCode
from neuromorph.backends.brian2.rules import RULE_CODE, RuleCode
from neuromorph.dynamics import Neuron
from neuromorph.errors import ConfigError
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec

TARGETS = ("numpy", "cython", "cpp_standalone")


class UnsupportedFeatureError(ConfigError):
    """A model feature the brian2 backend does not lower (yet); the message names the feature and the way out."""


def _no(feature: str, fix: str = "run it with --backend torch") -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"the brian2 backend does not support {feature} yet; {fix}")


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise ConfigError(f"brian2 target must be one of {', '.join(TARGETS)}, got {target!r}")


def family_code(neuron: Neuron) -> NeuronCode:
    """The brian2 code of ``neuron``'s family (:data:`.neurons.NEURON_CODE`, exact class)."""
    code = NEURON_CODE.get(type(neuron))
    if code is None:
        families = ", ".join(sorted(k.__name__ for k in NEURON_CODE))
        raise _no(f"neuron {type(neuron).describe()} (it lowers the families {families}; a subclass may step "
                  "differently and needs its own entry in neuromorph/backends/brian2/neurons.py)")
    return code


def rule_code(rule_type: type) -> RuleCode:
    """The brian2 code of a rule class (:data:`.rules.RULE_CODE`, exact class)."""
    code = RULE_CODE.get(rule_type)
    if code is None:
        name = getattr(rule_type, "name", rule_type.__name__)
        raise _no(f"the {name!r} rule ({rule_type.__module__}.{rule_type.__qualname__}; it runs "
                  f"{', '.join(sorted(k.__name__ for k in RULE_CODE))}: LIF, ALIF and rate units, bias-only "
                  "tuning included; a subclass needs its own entry in neuromorph/backends/brian2/rules.py)")
    return code


def check_supported(spec: NetworkSpec, rule, chip: ChipNumerics | None, target: str,
                    update_interval: int | None = None, n_steps: int | None = None) -> None:
    """Raise :class:`UnsupportedFeatureError` for what :mod:`~neuromorph.backends.brian2.network` cannot lower."""
    check_target(target)
    family_code(spec.neuron)
    if rule is not None:
        rule_code(type(rule))
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
