r"""The three-factor rule interface.

Every rule neuromorph ships has the form (docs/eprop.md)

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
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch


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


class Rule(ABC):
    r"""A plasticity rule: what it declares, and what it computes.

    **Declares** (checked by hardware profiles before any simulation): ``reads`` (signals and
    scopes), ``targets`` (parameters it changes) and ``temporal`` (online: traces only; offline:
    stored history).

    **Computes** (online rules; pure functions of named tensors, no backend code):

    * :meth:`initial` -- the rule's state at the start of a sequence (traces, eligibility, window
      accumulators), a NamedTuple of tensors;
    * :meth:`third_factor` -- the per-neuron learning signal :math:`L_j^t` from the output error
      (or a broadcast value);
    * :meth:`step` -- one step of traces and eligibility from the network's signals of step t;
    * :meth:`gradients` -- at the end of an update window, the gradient
      :math:`-\Delta\theta/\eta = \sum_t L_j \bar e_{ji}` (plus the rule's own terms) per target, and
      the state with its accumulators cleared;
    * :meth:`observe` -- the named per-neuron state of one step, as the run file stores it.

    State that must outlive a sequence (a running baseline) goes in ``ctx.carry``, which the caller
    keeps across the sequences of a run and stores in its checkpoints.

    :meth:`check` refuses, at setup, a network whose neuron does not state what the rule needs.
    Offline rules (BPTT) and backend forms of a rule (brian2 equations, the factored
    matrix-product path) live in the backends, registered against the rule type.
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            RULES.setdefault(cls.__dict__["name"], cls)

    @property
    @abstractmethod
    def reads(self) -> frozenset[Read]: ...

    @property
    @abstractmethod
    def temporal(self) -> Temporal: ...

    targets: frozenset[Target] = DEFAULT_TARGETS
    update_interval: int | None = None  #: steps per update window (None: one window per sequence)
    phased: ClassVar[bool] = False  #: whether the rule learns in phases, which its batches must then carry

    @property
    def factored(self) -> bool:
        """Whether the rule asks for its backend's exact end-of-sequence (factored) form."""
        return False

    def check(self, network) -> None:
        """Refuse ``network`` (a :class:`~neuromorph.network.NetworkSpec`) at setup if the rule cannot train it."""

    def initial(self, ctx: RuleContext):
        raise NotImplementedError(f"rule {self.name!r} has no online form; it runs through a backend form")

    def third_factor(self, delta: torch.Tensor, params, feedback: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, state, s: StepSignals, ctx: RuleContext):
        raise NotImplementedError

    def gradients(self, state, ctx: RuleContext) -> tuple[dict[Target, torch.Tensor], object]:
        raise NotImplementedError

    def teach(self, z_prev: torch.Tensor, target: torch.Tensor, phase: float | None, params,
              ctx: RuleContext) -> Teaching | None:
        """What the rule does to the network at step t before it steps (a nudge or a clamp); default nothing.

        ``z_prev`` is the population's output :math:`z_{t-1}`, ``target`` the task's target at t and
        ``phase`` the batch's phase at t (``None`` for tasks without phases).
        """
        return None

    def observe(self, state, s: StepSignals, ctx: RuleContext) -> dict[str, torch.Tensor]:
        """Named per-neuron state after step t, shapes (B, n); stored for batch element 0 (default: none)."""
        return {}


#: Rules by card name (``rule.name``); filled as the rule families are defined.
RULES: dict[str, type[Rule]] = {}


class RuleContext(NamedTuple):
    """What a rule's functions may read besides the step's signals: sizes, constants, the chip's trace grid."""

    n_in: int
    n_rec: int
    n_out: int
    batch: int
    dt: float
    dtype: torch.dtype
    consts: object  #: :class:`~neuromorph.plasticity.traces.TraceConstants` (None if the neuron states none)
    project: Callable | None = None  #: ``project(traces) -> traces`` on a chip's trace grid; None for floats
    generator: torch.Generator | None = None  #: the run's generator, for rules that draw (stochastic policies)
    #: state that outlives a sequence (a running reward baseline): a dict the caller owns, passes to every
    #: sequence of a run and checkpoints with it; rules read it in ``initial`` and write it in ``gradients``
    carry: dict | None = None
    engine: str = "torch"  #: "compiled": the backend may run its compiled loops (neuromorph.backends.torch.compiled)
    device: torch.device = torch.device("cpu")  #: where the rule's state lives (``train.device``)


class Teaching(NamedTuple):
    r"""A rule's action on the network at one step (:meth:`Rule.teach`): a drive added to :math:`I_t`
    (B, n_rec), and units held at a rate after the step (``clamp`` mask and ``rate``, both (B, n_rec)),
    which needs a neuron that states ``clamp``."""

    drive: torch.Tensor | None = None
    clamp: torch.Tensor | None = None
    rate: torch.Tensor | None = None


class StepSignals(NamedTuple):
    """The network's signals at step t, as the loop hands them to :meth:`Rule.step`."""

    x: torch.Tensor  #: (B, n_in) input x_t
    z_prev: torch.Tensor  #: (B, n_rec) z_{t-1}
    z: torch.Tensor  #: (B, n_rec) z_t
    psi: torch.Tensor  #: (B, n_rec) pseudo-derivative psi_t
    psi_prev: torch.Tensor  #: (B, n_rec) psi_{t-1} (zeros at t = 0)
    y: torch.Tensor  #: (B, n_out) readout y_t
    delta: torch.Tensor  #: (B, n_out) output error dE/dy_t
    learning: torch.Tensor  #: (B, n_rec) third factor L_t
    params: object  #: :class:`~neuromorph.network.Parameters` in force at step t
    target: torch.Tensor  #: the task's target at step t: (B, n_out) float, or (B,) class index
    mask: torch.Tensor  #: (B,) 1 where step t enters the loss (or is a decision step)
    phase: float | None = None  #: the batch's phase at t (+1 positive, -1 negative, 0 plasticity off), if it has phases
