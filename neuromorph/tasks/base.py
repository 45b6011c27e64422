"""Trial batches and the task protocol.

A task is a seeded trial generator. It returns time-major tensors so that the
simulation loop can index ``inputs[t]`` without a transpose.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from neuromorph.errors import ConfigError


def invalid(owner: str, field: str, value: object, allowed: str) -> ConfigError:
    """The error for a bad task field: names the class, the field and what is allowed."""
    return ConfigError(f"{owner}.{field}={value!r} is invalid: {allowed}")


def is_int(value: object) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class LossKind(enum.Enum):
    """What the readout is trained on."""

    REGRESSION = "regression"  #: mean squared error on a real-valued target
    CLASSIFICATION = "classification"  #: softmax cross-entropy on a class index


@dataclass(frozen=True)
class TrialBatch:
    """One batch of trials, time-major.

    Attributes
    ----------
    inputs : Tensor, shape (T, B, n_in)
        Input at each step (spikes as 0/1 floats, or rates).
    targets : Tensor
        ``(T, B, n_out)`` float for regression, ``(T, B)`` int64 class index
        for classification.
    mask : Tensor, shape (T, B)
        1 where the step enters the loss, 0 elsewhere.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor

    @property
    def n_steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[1])

    def to(self, dtype: torch.dtype) -> "TrialBatch":
        """Cast inputs, mask and float targets to ``dtype`` (class indices stay int64)."""
        targets = self.targets if not self.targets.is_floating_point() else self.targets.to(dtype)
        return TrialBatch(self.inputs.to(dtype), targets, self.mask.to(dtype))


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
