"""neuromorph: local learning rules as three-factor plasticity on chip-style state.

The public API is importable from the package itself::

    import neuromorph
    spec = neuromorph.load_card("models/eprop_sine.toml")
    result = neuromorph.train(spec, out="runs/sine.h5")
    run = neuromorph.load_run("runs/sine.h5")          # card, parameters, feedback, optimiser state
    rec = neuromorph.simulate(run, inputs)             # inputs (T, B, n_in): spikes, membrane, readout

Names are resolved on first use (PEP 562 module ``__getattr__``), so ``import neuromorph`` loads
no torch, brian2 or dask; :data:`_EXPORTS` is the one table that says where each name lives. The
layering of the package is described in the README and checked by ``tests/test_layers.py``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Any

#: The version in pyproject.toml, used only when the package metadata is missing (a bare source tree).
_FALLBACK_VERSION = "0.1.0"

#: Public name -> module that defines it. Renaming a target is a one-line change here.
_EXPORTS: dict[str, str] = {
    "load_card": "neuromorph.config",
    "load_any_card": "neuromorph.anycard",
    "train": "neuromorph.experiment",
    "load_run": "neuromorph.runs",
    "simulate": "neuromorph.runs",
    "LoadedRun": "neuromorph.runs",
    "Simulation": "neuromorph.runs",
    "Parameters": "neuromorph.network",
    "NetworkSpec": "neuromorph.network",
    "Neuron": "neuromorph.dynamics",
    "LIFParameters": "neuromorph.dynamics",
    "CubaLIFParameters": "neuromorph.dynamics",
    "ALIFParameters": "neuromorph.dynamics",
    "RateParameters": "neuromorph.dynamics",
    "EnergyRateParameters": "neuromorph.dynamics",
    "FilteredLIFParameters": "neuromorph.dynamics",
    "ReadoutParameters": "neuromorph.dynamics",
    "Rule": "neuromorph.plasticity",
    "EProp": "neuromorph.plasticity",
    "RewardEProp": "neuromorph.plasticity",
    "RFLO": "neuromorph.plasticity",
    "BPTT": "neuromorph.plasticity",
    "Contrastive": "neuromorph.plasticity",
    "ClassicalContrastive": "neuromorph.plasticity",
    "Feedback": "neuromorph.plasticity",
    "Mode": "neuromorph.plasticity",
    "Target": "neuromorph.plasticity",
}

__all__ = ["__version__", *_EXPORTS]


def _read_version(lookup: Callable[[str], str] = importlib.metadata.version) -> str:
    """The installed distribution's version, or :data:`_FALLBACK_VERSION` if it has no metadata."""
    try:
        return lookup("neuromorph")
    except importlib.metadata.PackageNotFoundError:
        return _FALLBACK_VERSION


__version__ = _read_version()


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first access and cache the name here (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
