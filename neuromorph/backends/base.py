r"""What every backend shares: the lowered network, the reference step, results, and the setup checks.

A :class:`Lowered` network is a :class:`~neuromorph.network.NetworkSpec` with its constants resolved
once (trace decays from the neuron, a chip's arithmetic). Its :meth:`Lowered.step` is the reference
network step every backend reproduces:

.. math::

    I_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b, \qquad
    (z_t, \psi_t, s_t) = \mathrm{neuron.step}(s_{t-1}, I_t), \qquad
    y_t = \kappa y_{t-1} + s_\mathrm{out}(W^\mathrm{out} z_t + b^\mathrm{out})

Backends import this module, never each other (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from neuromorph.dynamics import readout_step
from neuromorph.dynamics.lif import Membrane
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity.base import Rule, RuleContext, Target, Teaching
from neuromorph.plasticity.traces import PreTraces, TraceConstants, trace_constants
from neuromorph.types import TrialBatch

#: ``train.engine`` values: the torch loop (the reference) or compiled loops where they exist
ENGINES = ("torch", "compiled")
#: ``train.engine`` on the CPU when a card names none (on a CUDA device it is always "torch": :func:`resolve_engine`)
DEFAULT_ENGINE = "compiled"  #: on the CPU (numba loops where a kernel exists, the torch loop elsewhere)


def resolve_engine(engine: str | None, device: str | torch.device = "cpu") -> str:
    """The engine a run uses on ``device``; the one place that pairs ``train.engine`` with ``train.device``.

    ``None`` (the card names no engine) is :data:`DEFAULT_ENGINE` on the CPU and ``"torch"`` on a CUDA device;
    the compiled loops (numba) run on the CPU only, so ``"compiled"`` with a CUDA device is refused.
    """
    cuda = torch.device(device).type != "cpu"
    if engine is None:
        return "torch" if cuda else DEFAULT_ENGINE
    if engine not in ENGINES:
        raise ConfigError(f"train.engine must be one of {ENGINES}, got {engine!r}")
    if engine == "compiled" and cuda:
        raise ConfigError(f"train.engine = \"compiled\" runs numba loops on the CPU only; set engine = \"torch\" "
                          f"(or leave it out) for train.device = \"{torch.device(device)}\"")
    return engine


ApplyFn = Callable[[dict[Target, torch.Tensor]], None]
"""``apply(grads)``: the caller's optimiser step, called at the end of every update window."""


class NetworkState(NamedTuple):
    """Neuron state (the neuron family's NamedTuple) and readout ``y``."""

    neuron: NamedTuple
    y: torch.Tensor


@dataclass(frozen=True)
class Lowered:
    """A :class:`NetworkSpec` lowered once: trace constants from the neuron, a chip's arithmetic.

    ``consts`` is ``None`` when the neuron states no eligibility (only offline rules train it).
    ``chip`` replaces the membrane update and quantises the traces; ``None`` runs in exact floats.
    """

    spec: NetworkSpec
    dtype: torch.dtype
    consts: TraceConstants | None
    chip: ChipNumerics | None = None
    membrane: Membrane | None = None
    engine: str = "torch"  #: ``train.engine``: "torch" (the reference loop) or "compiled" (where a kernel exists)
    device: torch.device = torch.device("cpu")  #: ``train.device``: where the state, traces and parameters live

    def initial_state(self, batch: int) -> NetworkState:
        """The state at rest on :attr:`device` (a neuron family builds it on the CPU; it moves once per sequence)."""
        neuron = self.spec.neuron.initial_state(batch, self.spec.n_rec, self.dtype)
        if self.device.type != "cpu":
            neuron = type(neuron)(*(s.to(self.device) for s in neuron))
        return NetworkState(neuron, torch.zeros(batch, self.spec.n_out, dtype=self.dtype, device=self.device))

    def step(
        self, params: Parameters, state: NetworkState, x_t: torch.Tensor, stop_recurrent: bool = False,
        teach: Teaching | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, NetworkState]:
        """One step (module docstring); ``stop_recurrent`` detaches :math:`z_{t-1}` (e-prop's stop-gradient).

        ``teach`` (a rule's :meth:`~neuromorph.plasticity.Rule.teach`) adds its drive to :math:`I_t` and
        holds its clamped units at their rate after the neuron step.
        """
        spec = self.spec
        z_prev = state.neuron.z.detach() if stop_recurrent else state.neuron.z
        drive = x_t @ params.w_in.T + z_prev @ params.w_rec.T + params.bias
        if teach is not None and teach.drive is not None:
            drive = drive + teach.drive
        z, psi, neuron = spec.neuron.step(state.neuron, drive, spec.dt, theta=params.threshold, membrane=self.membrane)
        if teach is not None and teach.clamp is not None:
            neuron = spec.neuron.clamp(neuron, teach.clamp, teach.rate)
            z = neuron.z
        y = readout_step(spec.readout, state.y, z @ params.w_out.T + params.b_out, spec.dt)
        return z, psi, NetworkState(neuron, y)

    def context(self, batch: int, generator: torch.Generator | None = None, carry: dict | None = None) -> RuleContext:
        """What a rule's functions read: sizes, constants, the chip's trace grid, the run's generator and carry."""
        project = None if self.chip is None or self.consts is None else TraceProjection(self.chip, self.consts)
        s = self.spec
        return RuleContext(s.n_in, s.n_rec, s.n_out, batch, s.dt, self.dtype, self.consts, project, generator, carry,
                           self.engine, self.device)


def lower(spec: NetworkSpec, dtype: torch.dtype = torch.float32, chip: ChipNumerics | None = None,
          engine: str | None = "torch", device: str | torch.device = "cpu") -> Lowered:
    """Resolve decays, scales and per-neuron constants for ``spec`` (and a chip's arithmetic); ``engine``
    "compiled" lets the torch backend run its compiled loops where it has one for the neuron (CPU only,
    :func:`resolve_engine`); ``device`` is where the run's tensors live."""
    device = torch.device(device)
    engine = resolve_engine(engine, device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # tensors report their index: compare equal
    if chip is not None and device.type != "cpu":
        raise ConfigError(f"a hardware profile's arithmetic runs on the CPU only; set train.device = \"cpu\" to train "
                          f"under [hardware] (got {str(device)!r})")
    stated = type(spec.neuron).stated("eligibility")
    consts = trace_constants(spec.neuron, spec.readout, spec.dt, spec.n_rec, dtype) if stated else None
    if consts is not None and consts.beta is not None:
        consts = consts._replace(beta=consts.beta.to(device))
    membrane = chip.membrane(spec.neuron, spec.dt) if chip is not None and spec.spiking else None
    return Lowered(spec, dtype, consts, chip, membrane, engine, device)


@dataclass(frozen=True)
class TraceProjection:
    """``project(traces) -> traces`` of a :class:`~neuromorph.plasticity.RuleContext`: the traces on the chip's
    grid (:func:`chip_traces`); its chip and constants tell the compiled loops which grid to run."""

    chip: ChipNumerics
    consts: TraceConstants

    def __call__(self, tr: PreTraces) -> PreTraces:
        return chip_traces(self.chip, tr, self.consts)


def chip_traces(chip: ChipNumerics, tr: PreTraces, c: TraceConstants) -> PreTraces:
    """The traces on the chip's trace grid: hidden-layer traces step s_in/impulse, readout traces s_out/impulse."""
    return PreTraces(*(chip.project_trace(x, scale) for x, scale in zip(tr, (c.s_in, c.s_in, c.s_in, c.s_out, c.s_out))))


def check_inputs(spec: NetworkSpec, inputs: torch.Tensor) -> None:
    """Inputs must be (T, B, n_in)."""
    if inputs.dim() != 3 or inputs.shape[2] != spec.n_in:
        raise ShapeError(f"inputs have shape {tuple(inputs.shape)}, expected (T, B, {spec.n_in})")


def check_training(low: Lowered, rule, params: Parameters) -> None:
    """Setup checks every backend runs before a training sequence: the rule against the network."""
    if not isinstance(rule, Rule):  # the interface itself, not a dispatch on a rule family
        raise ConfigError(f"a rule must subclass neuromorph.plasticity.Rule (docs/extending.md), got "
                          f"{type(rule).__name__}")
    if Target.THRESHOLD in rule.targets:
        if not low.spec.spiking:
            raise ConfigError("rate units have no threshold: drop 'threshold' from rule.targets (learn 'bias')")
        if params.threshold is None:
            raise ConfigError("rule.targets has 'threshold' but params.threshold is None; pass zeros of shape (n_rec,)")
    rule.check(low.spec)


class Recording(NamedTuple):
    """Time-major recording of a simulation."""

    z: torch.Tensor  #: (T, B, n_rec) spikes (rates for rate units)
    v: torch.Tensor  #: (T, B, n_rec) membrane (pre-reset), or pre-activation
    y: torch.Tensor  #: (T, B, n_out) readout


class SequenceResult(NamedTuple):
    """Loss (task loss, before the update), spike count, decision, and what was recorded."""

    loss: float
    spike_count: float  #: spikes summed over batch, time and neurons
    mean_output: torch.Tensor  #: (B, n_out) readout averaged over the masked steps (the decision)
    y: torch.Tensor | None  #: (T, B, n_out), when recorded
    z: torch.Tensor | None  #: (T, B, n_rec), when recorded
    rule_state: dict[str, torch.Tensor]  #: named on-chip state of batch element 0, time-major, when recorded
    final: NetworkState | None = None  #: the network's state after the last step (to carry on from), where kept


def masked_mean(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Readout averaged over the masked steps: (T, B, n_out) → (B, n_out)."""
    return (y * mask.unsqueeze(-1)).sum(0) / mask.sum(0).clamp(min=1).unsqueeze(-1)


class Presentation(NamedTuple):
    """One sequence of a :class:`Curriculum`: samples shown with a constant input for ``len(phase)`` steps."""

    samples: torch.Tensor  #: (B,) int64 rows of the curriculum's table
    phase: tuple[float, ...]  #: the phase of every step (:class:`~neuromorph.types.TrialBatch`)
    lr: float  #: η of the updates in this sequence (plain SGD)
    reset: bool  #: start from rest (else from the previous sequence's final state)
    record: bool = False  #: record the readout and the watched weights at every step with a phase


class Curriculum(NamedTuple):
    """A training run laid out in advance: one schedule that every backend executes.

    The torch path runs it sequence by sequence through :meth:`neuromorph.engine.Session.step`; a backend
    that can run it whole (brian2: one simulator run) offers ``train_curriculum(low, params, rule,
    curriculum)``. Evaluations relax the network freely from rest on ``eval_samples`` for ``eval_steps``
    steps; their output is the readout at the last step, or its mean over the last ``eval_average`` steps.
    """

    x: torch.Tensor  #: (N, n_in) the inputs of the samples
    y: torch.Tensor  #: (N, n_out) their targets
    presentations: tuple[Presentation, ...]
    evaluate_after: tuple[int, ...]  #: evaluate after this many presentations (0: before training), ascending
    eval_samples: torch.Tensor  #: (M,) int64
    eval_steps: int
    eval_average: int = 1
    watch: tuple[int, int] = (0, 0)  #: (row, k): record w_rec[row, :k] after every update of a recorded sequence


class CurriculumResult(NamedTuple):
    """What a curriculum's run gives back; ``diverged`` is the number of evaluations done before an update made a
    weight non-finite (the parameters are then those before that update), ``None`` when it ran to the end."""

    outputs: torch.Tensor  #: (evaluations, M, n_out)
    params: Parameters
    raster: dict[str, torch.Tensor]  #: "y": (steps, n_out) readout of batch element 0; "weight": (steps, k)
    diverged: int | None = None


def presentation_batch(c: Curriculum, p: Presentation) -> TrialBatch:
    """The :class:`~neuromorph.types.TrialBatch` of one presentation: constant input and target, decision at the end."""
    x, y, n = c.x[p.samples], c.y[p.samples], len(p.phase)
    mask = torch.zeros(n, x.shape[0], dtype=x.dtype, device=x.device)
    mask[-1] = 1.0
    return TrialBatch(x.expand(n, *x.shape), y.expand(n, *y.shape), mask, p.phase)
