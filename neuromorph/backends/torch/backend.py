"""The torch backend as the registry sees it (:mod:`neuromorph.backends.registry`)."""

from __future__ import annotations

import torch

from neuromorph.backends.base import Lowered, Recording, SequenceResult
from neuromorph.backends.torch.simulate import simulate
from neuromorph.backends.torch.train import train_sequence
from neuromorph.errors import ConfigError


class TorchBackend:
    """Batched torch on the CPU: the reference backend; it runs every rule and neuron of the package."""

    def __init__(self, target: str | None = None) -> None:
        if target not in (None, "", "numpy"):
            raise ConfigError(f"the torch backend has no target {target!r} (targets are brian2's)")
        self.attrs = {"backend": "torch"}

    def check(self, spec, rule, chip, n_steps: int) -> None:
        """Nothing to refuse beyond the rule's own pairing checks (run at the first sequence)."""

    def train_sequence(self, low: Lowered, params, feedback, rule, kind, batch, apply, initial_state=None, *,
                       record: bool = False, generator: torch.Generator | None = None,
                       carry: dict | None = None) -> SequenceResult:
        return train_sequence(low, params, feedback, rule, kind, batch, apply, initial_state, record=record,
                              generator=generator, carry=carry)

    def simulate(self, low: Lowered, params, inputs: torch.Tensor) -> Recording:
        return simulate(low, params, inputs)

    def close(self) -> None:
        """Nothing to release."""
