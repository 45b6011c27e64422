r"""A profile's arithmetic resolved for one network: the grids a quantised simulation uses.

:func:`chip_numerics` turns a :class:`~.profile.HardwareProfile` and a network into
:class:`ChipNumerics`, which the torch backend calls at four points (docs/hardware.md):

* **membrane** — an integer state of ``state_bits`` magnitude bits with step
  :math:`\Delta_v = v_\mathrm{th} / K_\mathrm{th}` (``threshold_lsb``):

  .. math::

      k_t = \mathrm{ovf}\big(D(k_{t-1})\,[1 - z_{t-1}]_\mathrm{zero}
            - K_\mathrm{th} z_{t-1}\,[\,]_\mathrm{subtract}
            + \mathrm{round}(s I_t / \Delta_v)\big)

  with the chip's integer decay :math:`D` (:mod:`.quantize`), its reset (to zero, or
  subtract), and saturation or wrap-around. float32 states are rounded to float32; analog
  states stay exact (their mismatch is not simulated).
* **traces** — integer presynaptic traces, :math:`\Delta_P = s/\mathrm{impulse}`, so a spike adds
  ``impulse``: :math:`k_t = \mathrm{clip}(R(a\,k_{t-1} + \mathrm{impulse}\cdot u_t))` with
  stochastic or nearest :math:`R`.
* **weights** — ``weight_bits`` magnitude bits and one exponent per matrix:
  :math:`\Delta_W = \Delta_v 2^{\mathrm{shift}+e}` (integer state) or :math:`2^e` (float state),
  :math:`e` the smallest exponent in range that fits :math:`\max|W|` (with the drive scale
  :math:`s` folded in; the readout, read by the host, has a free exponent); analog weights use a
  continuous gain :math:`\Delta_W = \max|W| / (2^b - 1)`.
* **updates** (on-chip mode) — an update :math:`\Delta W` is accumulated in
  ``accumulator_bits``, rounded to the weight grid (stochastic or nearest) and saturated:
  :math:`k \leftarrow \mathrm{clip}(k + \mathrm{clip}(R(\Delta W / \Delta_W), \pm(2^{acc}-1)))`.
  Without stochastic rounding, updates smaller than half a step are lost.

In ``offline`` mode (train on the host, deploy quantised) the weights stay float
("shadow weights") and every forward pass uses their nearest grid point; in ``on_chip`` mode the
weights live on the grid and only the rounded updates change them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from neuromorph.dynamics import LIFParameters
from neuromorph.dynamics.lif import Membrane
from neuromorph.errors import HardwareProfileError
from neuromorph.hardware import quantize as q
from neuromorph.hardware.profile import HardwareProfile

MODES = ("on_chip", "offline")


@dataclass(frozen=True)
class StateGrid:
    """How the membrane is stored and decayed."""

    kind: str  #: int | float32 | exact
    reset: str  #: zero | subtract
    step: float = 1.0
    bits: int = 0
    overflow: str = "saturate"
    decay: str = "exact"  #: mul_shift | bitshift | exact
    decay_bits: int = 0
    decay_const: int = 0  #: d of mul_shift, or the shift n of bitshift
    threshold_lsb: int = 0

    @property
    def effective_alpha(self) -> float:
        """The decay factor the chip applies to large states."""
        if self.decay == "mul_shift":
            return 1.0 - self.decay_const / 2**self.decay_bits
        if self.decay == "bitshift":
            return 1.0 - 2.0**-self.decay_const
        return math.nan


@dataclass(frozen=True)
class TraceGrid:
    """Integer or float32 presynaptic traces."""

    kind: str  #: int | float32
    bits: int = 0
    signed: bool = False
    impulse: int = 1
    rounding: str = "nearest"


@dataclass(frozen=True)
class WeightGrid:
    """Integer (shared exponent) or analog (gain) weights."""

    kind: str  #: shared_exp | gain
    bits: int
    signed: bool
    base: float = 1.0  #: model units of 2^0 (the state step for integer states)
    shift: int = 0
    exp_range: tuple[int, int] = (0, 0)

    def step_for(self, w: torch.Tensor, free: bool = False) -> tuple[float, int | None]:
        """``(step, exponent)`` of the grid that fits ``w`` (exponent None for a gain).

        ``free`` lifts the exponent range: the readout is read by the host, in its own units.
        """
        top = float(w.detach().abs().max()) if w.numel() else 0.0
        if self.kind == "gain":
            return (top / (2**self.bits - 1) if top > 0 else 1.0), None
        exp_range = (-1074, 1023) if free else self.exp_range
        e = q.shared_exponent(top, self.bits, self.base * 2.0**self.shift, exp_range)
        return self.base * 2.0 ** (self.shift + e), e


class Grids(NamedTuple):
    """Per-parameter weight grid steps chosen at deployment (``None``: stays float)."""

    steps: dict[str, float]
    exponents: dict[str, int | None]


class ChipNumerics:
    """A profile's arithmetic for one network, with the random generator of its rounding."""

    def __init__(
        self, profile: HardwareProfile, mode: str, state: StateGrid | None, traces: TraceGrid | None,
        weights: WeightGrid | None, bias: str, rounding: str, accumulator_bits: float, generator: torch.Generator,
        shared_rng: bool,
    ) -> None:
        self.profile, self.mode = profile, mode
        self.state, self.traces, self.weights = state, traces, weights
        self.bias = bias  #: "weight" (a bias synapse), "state" (bias_bits on the state grid) or "float"
        self.rounding, self.accumulator_bits = rounding, accumulator_bits
        self.generator = generator
        self.shared_rng = shared_rng  #: one draw per step for all synapses (Lava's emulator)
        self.grids = Grids({}, {})

    # ----------------------------------------------------------------------------- randomness
    def uniform(self, like: torch.Tensor) -> torch.Tensor:
        shape = (1,) * like.dim() if self.shared_rng else like.shape
        return torch.rand(shape, generator=self.generator, dtype=like.dtype).expand(like.shape)

    def uniform_steps(self, n_steps: int, shapes: tuple[tuple[int, ...], ...], dtype: torch.dtype) -> list[torch.Tensor]:
        """The draws of ``n_steps`` steps that each call :meth:`uniform` once for every shape in ``shapes``, in
        that order: one tensor ``(n_steps, *shape)`` per shape (expanded views where the generator is shared).

        One call draws them all: torch's CPU generator fills a tensor element by element, so successive draws are
        one longer draw cut in pieces (``tests/hardware/test_quantize.py`` holds torch to it). The compiled loops
        take a window's draws this way, before it runs, and round with exactly the torch loop's numbers.
        """
        per = [(1,) * len(shape) if self.shared_rng else tuple(shape) for shape in shapes]
        sizes = [math.prod(shape) for shape in per]
        flat = torch.rand((n_steps, sum(sizes)), generator=self.generator, dtype=dtype)
        return [part.reshape(n_steps, *shape).expand(n_steps, *full)
                for part, shape, full in zip(flat.split(sizes, dim=1), per, shapes)]

    # ----------------------------------------------------------------------------- membrane
    def membrane(self, neuron: LIFParameters, dt: float) -> Membrane | None:
        """The chip's membrane update for ``neuron`` (None: the exact float update)."""
        g = self.state
        if g is None:
            return None
        (alpha, scale), v_th = neuron.membrane_update(dt), neuron.v_th
        zero_reset = g.reset == "zero"

        def exact(v, z, drive):
            return (alpha * v * (1 - z) + scale * drive) if zero_reset else (alpha * v + scale * drive - v_th * z)

        if g.kind == "float32":
            return lambda v, z, drive: _to_float32(exact(v, z, drive))
        if g.kind == "exact":
            return exact if zero_reset else None
        step = v_th / g.threshold_lsb

        def integer(v, z, drive):
            k = torch.round(v.detach() / step)  # already on the grid; round() removes float noise
            k = q.mul_shift_decay(k, g.decay_const, g.decay_bits) if g.decay == "mul_shift" else q.bitshift_decay(k, g.decay_const)
            k = k * (1 - z) if zero_reset else k - g.threshold_lsb * z
            k = k + torch.round(scale * drive.detach() / step)
            k = q.saturate(k, -(2**g.bits - 1), 2**g.bits - 1) if g.overflow == "saturate" else q.wrap(k, g.bits)
            return q.straight_through(exact(v, z, drive), k * step)

        return integer

    # ----------------------------------------------------------------------------- traces
    def project_trace(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """A trace advanced in float (``a P + s u``) brought back to the chip's trace grid."""
        g = self.traces
        if g is None:
            return x
        if g.kind == "float32":
            return _to_float32(x)
        step = scale / g.impulse
        return q.quantize(x, step, g.bits, g.signed, g.rounding, self.uniform)

    # ----------------------------------------------------------------------------- weights
    def weight_targets(self) -> tuple[str, ...]:
        if self.weights is None:
            return ()
        return ("w_in", "w_rec", "w_out") + (("bias",) if self.bias == "weight" else ())

    def choose_grids(self, params) -> Grids:
        """Pick each matrix's exponent (or gain) from its current values; the grid is then fixed on chip."""
        steps, exps = {}, {}
        for name in self.weight_targets():
            value = getattr(params, name)
            if name == "bias" and not float(value.detach().abs().max()) > 0:
                # a fresh bias synapse (all zero: nothing to fit) is an input synapse from an always-on
                # neuron, so it shares the input matrix's exponent instead of the smallest one
                steps[name], exps[name] = steps["w_in"], exps["w_in"]
                continue
            steps[name], exps[name] = self.weights.step_for(value, free=name == "w_out")
        if self.bias == "state":
            steps["bias"], exps["bias"] = self.state.step, 0
        self.grids = Grids(steps, exps)
        return self.grids

    def restore_grids(self, state: dict) -> None:
        """Put back the weight grids a run used (a checkpoint's ``chip_steps``, ``chip_exponents``): fixed on
        chip, so a resumed, exported or simulated run keeps them instead of choosing new ones."""
        if "chip_steps" in state:
            self.grids = Grids(dict(state["chip_steps"]), dict(state["chip_exponents"]))

    def bits_of(self, name: str) -> tuple[int, bool]:
        if name == "bias" and self.bias == "state":
            return self.profile.state.bias_bits, True
        return self.weights.bits, self.weights.signed

    def deploy(self, params, rechoose: bool = False):
        """``params`` with every quantised parameter at its nearest grid point."""
        if rechoose or not self.grids.steps:
            self.choose_grids(params)
        out = {}
        for name, step in self.grids.steps.items():
            bits, signed = self.bits_of(name)
            out[name] = q.quantize(getattr(params, name).detach(), step, bits, signed, "nearest")
        return params._replace(**out)

    def write(self, name: str, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """On-chip update: ``old`` (on the grid) plus the rounded, accumulated and saturated change."""
        step = self.grids.steps.get(name)
        if step is None:
            return new
        bits, signed = self.bits_of(name)
        delta = q.round_with(self.rounding, (new - old) / step, self.uniform)
        if math.isfinite(self.accumulator_bits):
            top = 2**self.accumulator_bits - 1
            delta = delta.clamp(-top, top)
        lo, hi = q.int_range(bits, signed)
        return q.saturate(torch.round(old / step) + delta, lo, hi) * step


def _to_float32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float32 else q.straight_through(x, x.to(torch.float32).to(x.dtype))


def chip_numerics(
    profile: HardwareProfile, neuron, dt: float, mode: str, seed: int, rounding: str | None = None,
) -> ChipNumerics | None:
    """Resolve ``profile`` for a network with ``neuron`` parameters; None for the ideal profile.

    ``rounding`` overrides the profile's update rounding (``"nearest"``/``"stochastic"``).
    """
    if mode not in MODES:
        raise HardwareProfileError(f"hardware.mode must be one of {list(MODES)}, got {mode!r}")
    if profile.ideal:
        return None
    state = _state_grid(profile, neuron, dt)
    traces = _trace_grid(profile)
    weights = _weight_grid(profile, state, getattr(neuron, "drive_scale", lambda dt: 1.0)(dt))
    bias = _bias_mode(profile)
    plast = profile.plasticity
    rounding = rounding or (plast.rounding if plast.on_chip else "nearest")
    if mode == "on_chip" and weights is not None and rounding == "none":
        raise HardwareProfileError(f"{profile.path}: [plasticity] rounding is 'none' but the weights are quantised")
    generator = torch.Generator().manual_seed(seed + 0x5EED)
    shared = plast.on_chip and profile.value("plasticity.rng") == "shared_per_step"
    return ChipNumerics(profile, mode, state, traces, weights, bias, rounding, plast.accumulator_bits, generator, shared)


def _state_grid(profile: HardwareProfile, neuron, dt: float) -> StateGrid | None:
    s = profile.state
    if s.format == "float32":
        return StateGrid("float32", s.reset)
    if s.format in ("float64", "analog"):
        return StateGrid("exact", s.reset) if s.reset == "zero" and neuron.spiking else None
    if not type(neuron).stated("membrane_update"):  # rate units, or a neuron that states no integer membrane
        return None
    alpha = neuron.alpha(dt)
    if s.decay == "mul_shift":
        const = q.decay_constant(alpha, s.decay_bits)
    else:
        const = q.shift_constant(neuron.tau_mem, dt)
    return StateGrid("int", s.reset, neuron.v_th / s.threshold_lsb, s.bits, s.overflow, s.decay, s.decay_bits or 0,
                     const, s.threshold_lsb)


def _trace_grid(profile: HardwareProfile) -> TraceGrid | None:
    t = profile.traces.get("pre")
    if t is None or t.format in ("float64", "analog"):
        return None
    if t.format == "float32":
        return TraceGrid("float32")
    return TraceGrid("int", t.bits, t.signed, t.impulse, t.rounding)


def _weight_grid(profile: HardwareProfile, state: StateGrid | None, drive_scale: float) -> WeightGrid | None:
    """The weight LSB is the state LSB shifted by 2^(shift+e); a drive scale s (``input_scaling``) is folded
    into the weights on chip, so the model's weight LSB is (state LSB / s) 2^(shift+e)."""
    w = profile.weights
    if w.format not in ("int", "analog"):
        return None
    base = state.step / drive_scale if state is not None and state.kind == "int" else 1.0
    return WeightGrid(w.scale, w.bits, w.signed, base, w.shift, w.exp_range or (0, 0))


def _bias_mode(profile: HardwareProfile) -> str:
    if profile.weights.format not in ("int", "analog"):
        return "float"
    if profile.plasticity.on_chip and profile.plasticity.bias_learning == "bias_synapse":
        return "weight"
    if profile.state.format == "int" and profile.state.bias_bits:
        return "state"
    return "float"
