r"""Backpropagation through time: the offline reference rule.

The gradient of :math:`E + E_\mathrm{reg}` through the whole stored trajectory,
computed by autograd through the same step functions as every other rule, with
the pseudo-derivative of :mod:`neuromorph.dynamics.surrogate` as the spike
derivative. With ``truncation = K`` the state is detached every K steps
(truncated BPTT). The reset is a constant, as in e-prop, so with
:math:`W^\mathrm{rec} = 0` BPTT equals e-prop (`tests/test_eprop_oracle.py`).

It reads the stored history and the transposed weights at the host, so any
chip profile rejects it for on-chip learning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from neuromorph.errors import ConfigError
from neuromorph.plasticity.base import DEFAULT_TARGETS, Read, Rule, Scope, Signal, Target, Temporal
from neuromorph.plasticity.losses import RateRegularization


@dataclass(frozen=True)
class BPTT(Rule):
    """BPTT (``truncation=None``) or truncated BPTT (detach every ``truncation`` steps)."""

    truncation: int | None = None
    targets: frozenset[Target] = DEFAULT_TARGETS
    regularization: RateRegularization = field(default_factory=RateRegularization)
    name: ClassVar[str] = "bptt"

    def __post_init__(self) -> None:
        if self.truncation is not None and (not isinstance(self.truncation, int) or self.truncation < 1):
            raise ConfigError(f"rule.truncation must be a positive integer, got {self.truncation!r}")

    @property
    def temporal(self) -> Temporal:
        return Temporal.OFFLINE

    @property
    def reads(self) -> frozenset[Read]:
        return frozenset({Read(Signal.HISTORY, Scope.HOST), Read(Signal.WEIGHTS_TRANSPOSED, Scope.HOST)})
