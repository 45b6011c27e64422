r"""Dynamical-system tasks: generate a sine or Van der Pol cycle, forecast a Lorenz coordinate.

Generation (``system = "sine"`` or ``"vdp"``) is autonomous: the network starts at rest, gets a
short cue on its single input channel (``cue_steps`` steps of amplitude 1, which plays the part
of the study's initial-condition map), and must then produce the trajectory on its own:

* sine: :math:`y^* = (\sin 2\pi t/P,\ \cos 2\pi t/P)`;
* Van der Pol: :math:`\ddot x - \mu(1-x^2)\dot x + x = 0`, read out as
  :math:`y^* = (x, \dot x)/s` on the limit cycle (:math:`s` scales both into about [-1, 1]),
  with time rescaled so one cycle lasts ``period`` seconds.

The loss ignores the first ``washout`` steps (the network's transient from rest).

Forecasting (``system = "lorenz"``): the input is one normalised coordinate :math:`x(t)` of the
Lorenz system (:math:`\sigma = 10, \rho = 28, \beta = 8/3`, sampled every ``sample_dt`` time
units) and the target is :math:`x(t + \ell)`, ``lag`` :math:`\ell` samples ahead (27 in the study:
the half-width at half-maximum of the autocorrelation of :math:`x`, see
:func:`autocorrelation_hwhm`). Trials are random windows of one long seeded trajectory.
Closed-loop forecasting is an evaluation of a trained network, in :mod:`neuromorph.bias`.

Trajectories are integrated with ``scipy.integrate.solve_ivp`` (DOP853, rtol 1e-9).

References
----------
Williams et al., arXiv:2407.00957 (ICLR 2025), Figs. 2-3 and the Lorenz forecasting experiment
(Williams et al. 2025, docs/bias.md, items 4-5); van der Pol, Phil. Mag. 2:978 (1926); Lorenz, J. Atmos. Sci.
20:130 (1963).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.integrate import solve_ivp

from neuromorph.errors import ConfigError
from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real

__all__ = ["SYSTEMS", "TrajectoryTask", "autocorrelation_hwhm", "lorenz_series", "vdp_cycle"]

SYSTEMS = ("sine", "vdp", "lorenz")
_RTOL = 1e-9


def _vdp(mu: float):
    return lambda t, s: (s[1], mu * (1.0 - s[0] ** 2) * s[1] - s[0])


@lru_cache(maxsize=8)
def vdp_cycle(mu: float, n: int) -> np.ndarray:
    r"""One Van der Pol limit cycle sampled at ``n`` equal phase steps, starting at the maximum of x.

    Returns (n, 2) ``(x, dx/dt)``. The transient from (2, 0) is integrated away over 50 time units,
    the period :math:`P(\mu)` is measured from successive maxima of x, and one period is resampled.
    """
    warm = solve_ivp(_vdp(mu), (0.0, 50.0), (2.0, 0.0), method="DOP853", rtol=_RTOL, atol=1e-12)
    start = warm.y[:, -1]
    span = 4.0 * (3.0 - 2 * math.log(2)) * mu + 4 * math.pi + 20.0  # more than two periods for any mu
    dense = solve_ivp(_vdp(mu), (0.0, span), start, method="DOP853", rtol=_RTOL, atol=1e-12, dense_output=True)
    t = np.linspace(0.0, span, 200_001)
    x = dense.sol(t)[0]
    peaks = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])) + 1
    t0, t1 = t[peaks[0]], t[peaks[1]]
    return dense.sol(np.linspace(t0, t1, n, endpoint=False)).T.copy()


def _lorenz(t, s, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    return (sigma * (s[1] - s[0]), s[0] * (rho - s[2]) - s[1], s[0] * s[1] - beta * s[2])


@lru_cache(maxsize=4)
def lorenz_series(n: int, sample_dt: float, seed: int) -> np.ndarray:
    """The x coordinate of a Lorenz trajectory, ``n`` samples ``sample_dt`` apart, z-scored.

    The initial state is drawn from ``seed`` and the first 20 time units are discarded.
    """
    start = np.random.default_rng(seed).normal(size=3) + (0.0, 0.0, 25.0)
    t = 20.0 + sample_dt * np.arange(n)
    sol = solve_ivp(_lorenz, (0.0, t[-1]), start, t_eval=t, method="DOP853", rtol=_RTOL, atol=1e-9)
    x = sol.y[0]
    return (x - x.mean()) / x.std()


def autocorrelation_hwhm(x: np.ndarray) -> int:
    """First lag (in samples) at which the autocorrelation of ``x`` drops to 1/2."""
    x = x - x.mean()
    spectrum = np.fft.rfft(x, 2 * len(x))
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: len(x)]
    acf = acf / acf[0]
    return int(np.argmax(acf < 0.5))


def _fail(field: str, value: object, allowed: str) -> ConfigError:
    return invalid("TrajectoryTask", field, value, allowed)


@dataclass(frozen=True)
class TrajectoryTask:
    """Generate a sine or Van der Pol cycle, or forecast a Lorenz coordinate (see the module docstring).

    Parameters
    ----------
    system : str
        ``"sine"``, ``"vdp"`` or ``"lorenz"``.
    n_steps : int
        Steps per trial.
    dt : float
        Network step in seconds.
    period : float
        Generation: seconds per cycle.
    mu : float
        Van der Pol damping :math:`\\mu` (> 0).
    cue_steps, washout : int
        Generation: steps of the input cue, and initial steps left out of the loss.
    lag : int
        Forecast horizon in samples (Lorenz).
    sample_dt : float
        Lorenz time units between samples.
    series_length : int
        Samples in the Lorenz trajectory that trials are cut from.
    seed : int
        Seed of the Lorenz trajectory.
    """

    system: str = "vdp"
    n_steps: int = 300
    dt: float = 1e-2
    period: float = 1.0
    mu: float = 1.0
    cue_steps: int = 5
    washout: int = 20
    lag: int = 27
    sample_dt: float = 0.0087
    series_length: int = 20000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.system not in SYSTEMS:
            raise _fail("system", self.system, f"expected one of {list(SYSTEMS)}")
        for name in ("n_steps", "series_length"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise _fail(name, getattr(self, name), "expected an int >= 1")
        for name in ("cue_steps", "washout", "lag", "seed"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 0:
                raise _fail(name, getattr(self, name), "expected an int >= 0")
        for name in ("dt", "period", "mu", "sample_dt"):
            if not is_real(getattr(self, name)) or getattr(self, name) <= 0:
                raise _fail(name, getattr(self, name), "expected a float > 0")
        if self.washout >= self.n_steps:
            raise _fail("washout", self.washout, f"expected fewer than n_steps = {self.n_steps} steps")
        if self.system == "lorenz" and self.series_length < self.n_steps + self.lag + 1:
            raise _fail("series_length", self.series_length, f"expected at least n_steps + lag + 1 = "
                        f"{self.n_steps + self.lag + 1}")

    n_in = 1

    @property
    def n_out(self) -> int:
        return 1 if self.system == "lorenz" else 2

    @property
    def loss(self) -> LossKind:
        return LossKind.REGRESSION

    def trajectory(self, n_steps: int | None = None) -> np.ndarray:
        """Generation target for ``n_steps`` (default: the trial length) steps, (n_steps, 2)."""
        if self.system == "lorenz":
            raise ConfigError("a Lorenz forecast has no fixed trajectory; use sample() or lorenz_series()")
        n = self.n_steps if n_steps is None else n_steps
        phase = np.arange(n) * self.dt / self.period  # in cycles
        if self.system == "sine":
            return np.stack([np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)], axis=1)
        steps_per_cycle = 1000
        cycle = vdp_cycle(float(self.mu), steps_per_cycle)
        cycle = cycle / np.abs(cycle).max(axis=0)
        position = phase * steps_per_cycle
        lo = np.floor(position).astype(int) % steps_per_cycle
        frac = (position - np.floor(position))[:, None]
        return (1 - frac) * cycle[lo] + frac * cycle[(lo + 1) % steps_per_cycle]

    def cue(self, n_steps: int | None = None) -> np.ndarray:
        """The input of a generation trial: 1 during the first ``cue_steps`` steps, then 0; (n_steps, 1)."""
        x = np.zeros((self.n_steps if n_steps is None else n_steps, 1))
        x[: self.cue_steps] = 1.0
        return x

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Generation: ``batch_size`` copies of the one trial. Lorenz: random windows of the series."""
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an int >= 1")
        T = self.n_steps
        if self.system == "lorenz":
            series = lorenz_series(self.series_length, self.sample_dt, self.seed)
            starts = torch.randint(self.series_length - T - self.lag, (batch_size,), generator=generator).numpy()
            index = starts[None, :] + np.arange(T)[:, None]
            inputs = series[index][..., None]
            targets = series[index + self.lag][..., None]
        else:
            inputs = np.broadcast_to(self.cue()[:, None, :], (T, batch_size, 1))
            targets = np.broadcast_to(self.trajectory()[:, None, :], (T, batch_size, 2))
        mask = torch.ones(T, batch_size, dtype=torch.float32)
        mask[: self.washout] = 0.0
        as_t = lambda a: torch.tensor(np.array(a), dtype=torch.float32)
        return TrialBatch(as_t(inputs), as_t(targets), mask)
