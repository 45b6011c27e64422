"""The task protocol (``TrialBatch`` and ``LossKind`` live in :mod:`neuromorph.types`).

A task is a seeded trial generator. It returns time-major tensors so that the
simulation loop can index ``inputs[t]`` without a transpose.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch

from neuromorph.errors import ConfigError
from neuromorph.types import LossKind, TrialBatch

__all__ = ["LossKind", "Task", "TrialBatch", "invalid", "is_int", "is_real"]


def invalid(owner: str, field: str, value: object, allowed: str) -> ConfigError:
    """The error for a bad task field: names the class, the field and what is allowed."""
    return ConfigError(f"{owner}.{field}={value!r} is invalid: {allowed}")


def whole_steps(owner: str, field: str, duration: object, dt: float, minimum: int) -> int:
    """``duration / dt`` as an int; :func:`invalid` unless it is a whole number of steps >= ``minimum``."""
    if not is_real(duration):
        raise invalid(owner, field, duration, "expected a finite duration in seconds")
    steps = duration / dt
    whole = round(steps)
    if abs(steps - whole) > 1e-6 * max(1.0, abs(steps)) or whole < minimum:
        raise invalid(owner, field, duration, f"expected a whole multiple of dt={dt:g} s, >= {minimum} steps")
    return int(whole)


def is_int(value: object) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@runtime_checkable
class Task(Protocol):
    """A seeded trial generator.

    Attributes: ``n_in``, ``n_out`` (outputs, or classes), ``n_steps``, ``dt``
    (seconds) and ``loss`` (:class:`LossKind`).
    """

    n_in: int
    n_out: int
    n_steps: int
    dt: float
    loss: LossKind

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Draw ``batch_size`` trials using only ``generator`` for randomness."""
        ...
