"""Vocabulary shared across layers: what a trial batch is and what the readout is trained on.

Tasks produce :class:`TrialBatch` objects; learning rules and backends consume them. Keeping
the types here lets ``plasticity`` and ``backends`` use them without importing ``tasks``
(the README's layering).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch


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
    phase : sequence of float, length T, or None
        The phase of each step for rules that learn in phases (contrastive learning): +1 positive
        (nudged or clamped), -1 negative (free), 0 free with the plasticity off. ``None``: no phases.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    phase: tuple[float, ...] | None = None

    def phase_at(self, t: int) -> float | None:
        """The phase of step ``t``, or ``None`` for a batch without phases."""
        return None if self.phase is None else self.phase[t]

    @property
    def n_steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[1])

    def to(self, dtype: torch.dtype | None = None, device: str | torch.device | None = None) -> TrialBatch:
        """Cast inputs, mask and float targets to ``dtype`` (class indices stay int64) and move them to ``device``
        (``None``: keep the batch's)."""
        dtype = self.inputs.dtype if dtype is None else dtype
        targets = self.targets if not self.targets.is_floating_point() else self.targets.to(dtype=dtype)
        return TrialBatch(self.inputs.to(device=device, dtype=dtype), targets.to(device=device),
                          self.mask.to(device=device, dtype=dtype), self.phase)

    @property
    def device(self) -> torch.device:
        return self.inputs.device
