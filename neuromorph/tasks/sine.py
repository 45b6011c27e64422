"""Pattern generation: a sum of sines read out from frozen Poisson input.

The e-prop tutorial task "pattern generation" (Bellec et al. 2020, Fig. 3 / S7 tutorial code
``tutorial_pattern_generation.py``): ``n_in`` Poisson input channels drive a recurrent network
whose single leaky readout must reproduce a fixed 1-s target made of four sines.

References
----------
G. Bellec, F. Scherr, A. Subramoney, E. Hajek, D. Salaj, R. Legenstein, W. Maass,
"A solution to the learning dilemma for recurrent networks of spiking neurons",
Nat. Commun. 11:3625 (2020); official code IGITUGraz/eligibility_propagation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real

__all__ = ["SinePatternTask"]


def _fail(field: str, value: object, allowed: str) -> ConfigError:
    return invalid("SinePatternTask", field, value, allowed)


@dataclass(frozen=True)
class SinePatternTask:
    r"""Regress a fixed sum of four sines from Poisson input spikes.

    Inputs: each of the ``n_in`` channels spikes independently at each step with probability
    :math:`p = r\,\delta t` (``rate`` :math:`r` in Hz, ``dt`` :math:`\delta t` in s).

    Target (one output, step :math:`n = 0..T-1`, :math:`t_n = n\,\delta t`):

    .. math::

        s(t) = \sum_{k=1}^{K} a_k \sin\!\left(\frac{2\pi t}{P_k} + \phi_k\right), \qquad
        y^*(t_n) = \frac{s(t_n) - s(t_0)}{\max_m |s(t_m) - s(t_0)|}

    with periods :math:`P = (1, 0.5, 0.333, 0.2)` s, amplitudes :math:`a_k \sim U(0.5, 2)` and
    phases :math:`\phi_k \sim U(0, 2\pi)`. Normalisation follows the tutorial's
    ``sum_of_sines_target(normalize=True)``: the initial value is subtracted, so the target starts
    at 0 like a readout at rest, and the result is scaled so that :math:`\max_n |y^*| = 1`.
    (The tutorial builds each sine with ``linspace`` over an integer number of cycles; here each
    sine has exactly its nominal period.)

    Randomness. ``seed`` builds a private ``torch.Generator``; draws, in this order:
    ``a`` (K values), ``phi`` (K values), then the frozen raster (``n_steps`` x ``n_in``). The
    target therefore never depends on the generator passed to :meth:`sample`.

    - ``frozen=True`` (the tutorial setting): the raster is the frozen one from ``seed``;
      :meth:`sample` returns ``batch_size`` copies of the same trial and draws nothing from the
      generator it is given.
    - ``frozen=False``: the raster is redrawn from the given generator at each call; the target
      stays fixed.

    Parameters
    ----------
    n_in : int
        Input channels (tutorial: 100), >= 1.
    n_steps : int
        Steps per trial T (tutorial: 1000), >= 1.
    dt : float
        Step in seconds, > 0.
    rate : float
        Input rate in Hz, with ``0 <= rate * dt <= 1`` (tutorial: 50 Hz).
    seed : int
        Seed of the frozen target (and frozen raster), ``0 <= seed < 2**63``.
    frozen : bool
        Freeze the input raster (see above).
    periods : tuple of float
        Sine periods in seconds, each > 0.
    silent_steps : int, optional
        Keep the inputs silent in the first ``silent_steps`` steps of every trial (``None``, the default,
        is 0). The raster is drawn as without it, then those steps are cleared (NEST's e-prop tutorials leave
        the first steps of a sequence empty; the NEST backend does not need it, docs/nest.md).

    Notes
    -----
    ``n_out = 1``; ``loss = LossKind.REGRESSION``; the mask is all ones.

    References
    ----------
    Bellec et al., Nat. Commun. 11:3625 (2020), Fig. 3 and the tutorial
    ``tutorial_pattern_generation.py`` / ``models.py::sum_of_sines_target``.
    """

    n_in: int = 100
    n_steps: int = 1000
    dt: float = 1e-3
    rate: float = 50.0
    seed: int = 0
    frozen: bool = True
    periods: tuple[float, ...] = (1.0, 0.5, 0.333, 0.2)
    silent_steps: int | None = None

    def __post_init__(self) -> None:
        if not is_int(self.n_in) or self.n_in < 1:
            raise _fail("n_in", self.n_in, "expected an int >= 1")
        if not is_int(self.n_steps) or self.n_steps < 1:
            raise _fail("n_steps", self.n_steps, "expected an int >= 1")
        if not is_real(self.dt) or self.dt <= 0:
            raise _fail("dt", self.dt, "expected a finite float > 0 (seconds)")
        if not is_real(self.rate) or not 0.0 <= self.rate * self.dt <= 1.0:
            raise _fail("rate", self.rate, f"expected 0 <= rate <= 1/dt = {1.0 / self.dt:g} Hz")
        if not is_int(self.seed) or not 0 <= self.seed < 2**63:
            raise _fail("seed", self.seed, "expected an int in [0, 2**63)")
        if not isinstance(self.frozen, bool):
            raise _fail("frozen", self.frozen, "expected a bool")
        if not isinstance(self.periods, (tuple, list)) or len(self.periods) == 0:
            raise _fail("periods", self.periods, "expected a non-empty sequence of seconds")
        if not all(is_real(p) and p > 0 for p in self.periods):
            allowed = "every period must be a finite float > 0 (seconds)"
            raise _fail("periods", self.periods, allowed)
        if self.silent_steps is not None and (not is_int(self.silent_steps)
                                              or not 0 <= self.silent_steps <= self.n_steps):
            raise _fail("silent_steps", self.silent_steps, f"expected an int in [0, n_steps = {self.n_steps}]")
        # a list (as read from TOML) becomes a tuple so the task stays hashable
        object.__setattr__(self, "periods", tuple(float(p) for p in self.periods))

    @property
    def n_out(self) -> int:
        """Number of readouts (1)."""
        return 1

    @property
    def loss(self) -> LossKind:
        """Mean squared error on the target."""
        return LossKind.REGRESSION

    def _private_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def target_components(self) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Amplitudes :math:`a_k` and phases :math:`\phi_k` drawn from ``seed``.

        Returns
        -------
        amplitudes, phases : Tensor, shape (K,), float64
            :math:`a_k \sim U(0.5, 2)`, :math:`\phi_k \sim U(0, 2\pi)`.
        """
        return self._draw_components(self._private_generator())

    def _draw_components(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        k = len(self.periods)
        amplitudes = 0.5 + 1.5 * torch.rand(k, generator=gen, dtype=torch.float64)
        phases = 2.0 * math.pi * torch.rand(k, generator=gen, dtype=torch.float64)
        return amplitudes, phases

    def target_signal(self) -> torch.Tensor:
        r"""The normalised target :math:`y^*(t_n)`, shape (n_steps,), float64."""
        amplitudes, phases = self.target_components()
        t = torch.arange(self.n_steps, dtype=torch.float64) * self.dt
        periods = torch.tensor(self.periods, dtype=torch.float64)
        s = (amplitudes * torch.sin(2.0 * math.pi * t[:, None] / periods + phases)).sum(dim=1)
        centred = s - s[0]
        scale = centred.abs().max()
        # A constant target (only possible for degenerate periods) stays 0 instead of dividing by 0.
        return centred / scale if scale > 0 else centred

    def frozen_raster(self) -> torch.Tensor:
        """The frozen input raster drawn from ``seed``, shape (n_steps, n_in), float32 0/1."""
        gen = self._private_generator()
        self._draw_components(gen)  # the raster comes after a_k and phi_k in the seeded stream
        return (torch.rand(self.n_steps, self.n_in, generator=gen) < self.rate * self.dt).float()

    def sample(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> TrialBatch:
        """Draw ``batch_size`` trials.

        Parameters
        ----------
        batch_size : int
            B >= 1.
        generator : torch.Generator
            Source of the input spikes when ``frozen=False``; untouched when ``frozen=True``.
        dtype : torch.dtype
            Floating type of the batch (default float32). The target :math:`y^*` is computed in float64
            and rounded once, to ``dtype``: a float64 run (``train.precision = "float64"``) trains on the
            float64 target, not on its float32 rounding. The 0/1 inputs and the mask are exact in any type.

        Returns
        -------
        TrialBatch
            inputs (T, B, n_in) 0/1 (0 in the first ``silent_steps`` steps); targets (T, B, 1); mask (T, B)
            ones; all of ``dtype``.
        """
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an int >= 1")
        if not isinstance(generator, torch.Generator):
            kind = type(generator).__name__
            raise ConfigError(f"generator must be a torch.Generator, got {kind}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ConfigError(f"dtype must be a floating torch.dtype (torch.float32, torch.float64), got {dtype!r}")
        shape = (self.n_steps, batch_size, self.n_in)
        if self.frozen:
            inputs = self.frozen_raster()[:, None, :].expand(shape).contiguous()
        else:
            inputs = (torch.rand(shape, generator=generator) < self.rate * self.dt).float()
        if self.silent_steps:
            inputs[: self.silent_steps] = 0.0
        target = self.target_signal().to(dtype)
        targets = target[:, None, None].expand(self.n_steps, batch_size, 1).contiguous()
        mask = torch.ones(self.n_steps, batch_size, dtype=dtype)
        return TrialBatch(inputs=inputs.to(dtype), targets=targets, mask=mask)
