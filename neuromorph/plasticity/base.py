r"""The three-factor rule interface.

Every rule neuromorph ships has the form (DESIGN.md, THEORY.md §5.3)

.. math::

    \Delta\theta_{ji} = -\eta \sum_t L_j(t)\, \bar e_{ji}(t), \qquad
    e_{ji}(t) = \mathrm{post}_j(t)\, \mathrm{pre}_{ji}(t)

A rule is a small frozen object that *declares* what it needs: the signals it
reads and at which scope (``reads``), the parameters it changes (``targets``)
and whether it runs on traces alone or needs stored history (``temporal``).
Hardware profiles check these declarations before any simulation runs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class Signal(enum.Enum):
    """Vocabulary of signals a rule may read."""

    PRE_SPIKE = "pre_spike"
    PRE_TRACE = "pre_trace"
    POST_STATE = "post_state"
    POST_TRACE = "post_trace"  #: a low-pass of the postsynaptic spikes (filtered rate)
    PSEUDO_DERIVATIVE = "pseudo_derivative"
    LEARNING_SIGNAL = "learning_signal"  #: per-neuron third factor, B·error
    BROADCAST_SIGNAL = "broadcast_signal"  #: one value for all neurons (reward, phase)
    OUTPUT_ERROR = "output_error"  #: y - y* at the readout
    WEIGHTS_TRANSPOSED = "weights_transposed"  #: W_out^T used as feedback
    HISTORY = "history"  #: the stored trajectory (offline rules)
    ELIGIBILITY = "eligibility"  #: per-synapse eligibility state (filtered e-prop, RFLO, ALIF)


class Scope(enum.Enum):
    """Where a signal lives: from one synapse up to the host computer."""

    SYNAPSE = "synapse"
    PRE = "pre"
    POST = "post"
    CORE = "core"
    CHIP = "chip"
    HOST = "host"


class Temporal(enum.Enum):
    """ONLINE rules run on traces; OFFLINE rules need the stored history."""

    ONLINE = "online"
    OFFLINE = "offline"


class Target(enum.Enum):
    """Parameters a rule may change (names match :class:`neuromorph.network.Parameters`)."""

    W_IN = "w_in"
    W_REC = "w_rec"
    W_OUT = "w_out"
    BIAS = "bias"
    B_OUT = "b_out"
    THRESHOLD = "threshold"  #: per-neuron offset of a spiking neuron's firing threshold


HIDDEN_TARGETS = (Target.W_IN, Target.W_REC, Target.BIAS, Target.THRESHOLD)
#: Targets with one value per neuron: their outer-product gradients carry a trailing dimension of 1.
PER_NEURON = (Target.BIAS, Target.B_OUT, Target.THRESHOLD)
READOUT_TARGETS = (Target.W_OUT, Target.B_OUT)
DEFAULT_TARGETS = frozenset({Target.W_IN, Target.W_REC, Target.W_OUT})


@dataclass(frozen=True)
class Read:
    """One declared read: a signal at a scope; ``signed`` if it takes both signs, ``count`` values
    per neuron (2 when a signed signal is split into a positive and a negative part)."""

    signal: Signal
    scope: Scope
    signed: bool = False
    count: int = 1


@runtime_checkable
class Rule(Protocol):
    """What every rule declares."""

    name: str

    @property
    def reads(self) -> frozenset[Read]: ...

    @property
    def targets(self) -> frozenset[Target]: ...

    @property
    def temporal(self) -> Temporal: ...
