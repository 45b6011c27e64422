"""One registry of backends: a name (``--backend``, ``train(backend=...)``) to the object that runs it.

A backend lowers (network, rule, profile) and runs the time loop. Every backend offers

* ``check(spec, rule, chip, n_steps)``: refuse at setup, before any simulation, what it cannot run;
* ``train_sequence(low, params, feedback, rule, kind, batch, apply, initial_state=None, *, record, generator, carry)``
  (``initial_state``: the network state to start from, the ``final`` of an earlier result; a backend that
  cannot start from one refuses it);
* ``simulate(low, params, inputs)``: a forward :class:`~neuromorph.backends.base.Recording`;
* ``close()``: release builds (temporary projects, compiled code);
* ``attrs``: what a run file records about it (``backend``, and e.g. ``brian2_target``); a change blocks a resume;
* optionally ``run_attrs``, recorded too but not compared on resume (how it ran, not what it computes: NEST's
  ``nest_processes`` and ``nest_threads``), and ``writer``, False in a process that trains but must not write the
  run file or print (an MPI rank other than 0: :mod:`neuromorph.backends.nest.mpi`); both default to nothing / True.

Backends are imported only when asked for, so ``import neuromorph`` never imports brian2 or NEST.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from neuromorph.errors import ConfigError


class Backend(Protocol):
    """What :mod:`neuromorph.experiment` needs from a backend (module docstring)."""

    attrs: dict[str, str]

    def check(self, spec, rule, chip, n_steps: int) -> None: ...

    def train_sequence(self, low, params, feedback, rule, kind, batch, apply, initial_state=None, *, record=False,
                       generator=None,
                       carry=None): ...

    def simulate(self, low, params, inputs): ...

    def close(self) -> None: ...


#: backend name -> "module:factory"; the factory takes the backend's target (or None)
BACKENDS: dict[str, str] = {
    "torch": "neuromorph.backends.torch.backend:TorchBackend",
    "brian2": "neuromorph.backends.brian2.train:Brian2Backend",
    "nest": "neuromorph.backends.nest.backend:NestBackend",
}


def get_backend(name: str, target: str | None = None) -> Backend:
    """The backend registered as ``name``, created for ``target`` (brian2: numpy, cython, cpp_standalone;
    nest: its thread count)."""
    if name not in BACKENDS:
        raise ConfigError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    module, factory = BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module), factory)
    return cls() if target is None else cls(target)
