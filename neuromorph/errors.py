"""Exception types raised by neuromorph.

Every error says what was wrong and how to fix it. The CLI turns any
:class:`NeuromorphError` into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations


class NeuromorphError(Exception):
    """Base class of every error neuromorph raises on purpose."""


class ConfigError(NeuromorphError, ValueError):
    """A model card or argument is invalid: unknown key, wrong type, bad value."""


class ShapeError(NeuromorphError, ValueError):
    """An array (weights, inputs, initial state) has the wrong shape."""


class NonFiniteError(NeuromorphError, FloatingPointError):
    """NaN or Inf appeared in a simulation or a parameter update."""


class StorageError(NeuromorphError, OSError):
    """An HDF5 file is missing, corrupt, or not a neuromorph file."""


class TheoryError(NeuromorphError, ValueError):
    """A theory setup is invalid (e.g. a teacher with spectral radius >= 1)."""


class HardwareProfileError(ConfigError):
    """A hardware profile is malformed (names the file, the key and what was expected), or a
    run needs something the profile's chip does not have (on-chip learning, a neuron model, size)."""


class LocalityError(NeuromorphError, ValueError):
    """A rule reads a signal the chip cannot provide at the scope, sign or time the rule needs.

    The message names the signal, its scope, the scopes the profile allows, and the fix.
    """


class ExportError(NeuromorphError, ValueError):
    """A network, run or rule cannot be written to (or read from) an export format: NIR, a chip
    image, a chip learning-rule string. The message says what the format cannot express and why."""


class UnsupportedPairingError(ConfigError):
    """A rule (or a backend, or an exporter) paired with a neuron that does not state what it needs.

    The message names the neuron, the component and the missing piece, so wrong gradients cannot be
    had silently (:mod:`neuromorph.dynamics.neuron`)."""
