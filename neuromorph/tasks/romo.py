"""Romo: compare two vibrotactile-like amplitudes separated by a variable delay.

Our generator for the task of Schuessler et al. (2020), ``romo()`` in
frschu/neurips_2020_interplay_randomness_structure (Zhang, Liu & Liu, docs/gain.md). Durations are in units of
the neuron time constant :math:`\\tau` (their convention), converted to steps with ``dt/tau``.

References
----------
F. Schuessler, F. Mastrogiuseppe, A. Dubreuil, S. Ostojic, O. Barak, "The interplay between
randomness and structure during learning in RNNs", NeurIPS 2020.
R. Romo, C. D. Brody, A. Hernández, L. Lemus, "Neuronal correlates of parametric working memory
in the prefrontal cortex", Nature 399:470 (1999).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real

__all__ = ["RomoTask"]

#: Amplitudes and delay of the ``test=True`` trial (`tests/gain/test_tasks_gain.py`).
TEST_AMPLITUDES = (0.6, 1.1)
_DURATIONS = ("fixation", "stimulus", "delay_min", "delay_max", "decision_delay", "decision")


def _fail(field: str, value: object, allowed: str) -> ConfigError:
    return invalid("RomoTask", field, value, allowed)


@dataclass(frozen=True)
class RomoTask:
    r"""Two stimuli of amplitude :math:`f_1, f_2`; report which was larger.

    Schedule (units of :math:`\tau`): fixation 3, stimulus 1 at :math:`f_1`, delay
    :math:`U(2, 8)`, stimulus 1 at :math:`f_2`, decision delay 5, decision window 10, so
    :math:`t_\max = 28` covers the longest delay; shorter trials end with silence outside the
    mask. :math:`f_1, f_2 \sim U(0.5, 1.5)`, redrawn until :math:`|f_1 - f_2| \ge 0.2`.

    Input (``n_in = 1``): the amplitude during each stimulus, 0 otherwise. Output (``n_out = 2``):
    ``target_amp`` (0.5) on channel 0 if :math:`f_1 > f_2`, on channel 1 otherwise, during the
    decision window, 0 elsewhere. The mask covers the decision window and, with ``fixate``,
    every step up to the end of stimulus 2 (target 0). The loss is the package's regression loss
    :math:`\frac{1}{B}\sum_{t,b} m\,\tfrac12\|y - y^*\|^2` (theirs divides by :math:`\sum m`
    instead; a constant factor per batch shape).

    ``test = True`` gives every trial :math:`(f_1, f_2) = (0.6, 1.1)` and the delay
    :math:`(2 + 8)/2 = 5`.

    Randomness, all from the generator given to :meth:`sample`, in this order: the delays
    ``(B,)`` via ``torch.rand``, then rounds of ``(B, 2)`` amplitude draws via ``torch.rand``
    until every pair differs by at least ``min_diff``.

    Parameters
    ----------
    tau, dt : float
        Neuron time constant and step in seconds (``dt/tau = 0.5`` in their nonlinear runs);
        every duration times ``tau/dt`` must be a whole number of steps.
    fixation, stimulus, delay_min, delay_max, decision_delay, decision : float
        Durations in units of ``tau``.
    amp_min, amp_max, min_diff, target_amp : float
        Amplitude range, minimal separation, and the target level.
    fixate, test : bool
        Mask the pre-decision steps (target 0); the fixed test trial.
    """

    tau: float = 0.1
    dt: float = 0.05
    fixation: float = 3.0
    stimulus: float = 1.0
    delay_min: float = 2.0
    delay_max: float = 8.0
    decision_delay: float = 5.0
    decision: float = 10.0
    amp_min: float = 0.5
    amp_max: float = 1.5
    min_diff: float = 0.2
    target_amp: float = 0.5
    fixate: bool = True
    test: bool = False

    def __post_init__(self) -> None:
        for name in ("tau", "dt"):
            if not is_real(getattr(self, name)) or getattr(self, name) <= 0:
                raise _fail(name, getattr(self, name), "expected a finite float > 0 (seconds)")
        for name in _DURATIONS:
            self._steps(getattr(self, name), name)
        if self.delay_max < self.delay_min:
            raise _fail("delay_max", self.delay_max, f"expected >= delay_min = {self.delay_min}")
        if self._steps(self.stimulus, "stimulus") < 1 or self._steps(self.decision, "decision") < 1:
            raise ConfigError("RomoTask.stimulus and RomoTask.decision must last at least one step")
        for name in ("amp_min", "amp_max", "min_diff", "target_amp"):
            if not is_real(getattr(self, name)):
                raise _fail(name, getattr(self, name), "expected a finite number")
        if not 0 <= self.min_diff < self.amp_max - self.amp_min:
            raise _fail("min_diff", self.min_diff, "expected 0 <= min_diff < amp_max - amp_min")
        for name in ("fixate", "test"):
            if not isinstance(getattr(self, name), bool):
                raise _fail(name, getattr(self, name), "expected true or false")

    def _steps(self, duration: float, name: str) -> int:
        if not is_real(duration) or duration < 0:
            raise _fail(name, duration, "expected a finite duration >= 0 in units of tau")
        steps = duration * self.tau / self.dt
        whole = round(steps)
        if abs(steps - whole) > 1e-6 * max(1.0, steps):
            raise _fail(name, duration, f"expected a whole number of steps of dt/tau = {self.dt / self.tau:g}")
        return int(whole)

    @property
    def n_in(self) -> int:
        return 1

    @property
    def n_out(self) -> int:
        return 2

    @property
    def loss(self) -> LossKind:
        return LossKind.REGRESSION

    @property
    def t_max(self) -> float:
        """Trial length in units of tau: fixation + 2 stimuli + longest delay + decision delay + decision."""
        return self.fixation + 2 * self.stimulus + self.delay_max + self.decision_delay + self.decision

    @property
    def n_steps(self) -> int:
        return self._steps(self.t_max, "t_max")

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Draw ``batch_size`` trials: inputs (T, B, 1), targets (T, B, 2), mask (T, B), float32."""
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an int >= 1")
        if not isinstance(generator, torch.Generator):
            raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        per_tau = self.tau / self.dt
        if self.test:
            delay = torch.full((batch_size,), (self.delay_min + self.delay_max) / 2, dtype=torch.float64)
            amps = torch.tensor([TEST_AMPLITUDES], dtype=torch.float64).repeat(batch_size, 1)
        else:
            u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
            delay = self.delay_min + (self.delay_max - self.delay_min) * u
            amps = self._amplitudes(batch_size, generator)
        delay_steps = torch.round(delay * per_tau).to(torch.int64)
        t_fix, t_stim = self._steps(self.fixation, "fixation"), self._steps(self.stimulus, "stimulus")
        t_dd, t_dec = self._steps(self.decision_delay, "decision_delay"), self._steps(self.decision, "decision")
        steps = torch.arange(self.n_steps)[:, None]  # (T, 1)
        s1_end = t_fix + t_stim
        s2_start = s1_end + delay_steps[None, :]  # (1, B)
        s2_end = s2_start + t_stim
        dec_start = s2_end + t_dd
        dec_end = dec_start + t_dec
        in_s1 = (steps >= t_fix) & (steps < s1_end)
        in_s2 = (steps >= s2_start) & (steps < s2_end)
        in_dec = (steps >= dec_start) & (steps < dec_end)
        inputs = (in_s1 * amps[:, 0] + in_s2 * amps[:, 1]).to(torch.float32).unsqueeze(-1)
        larger = (amps[:, 1] > amps[:, 0]).to(torch.int64)  # channel 0: f1 > f2, channel 1: f2 > f1
        targets = torch.zeros(self.n_steps, batch_size, 2, dtype=torch.float32)
        onehot = torch.nn.functional.one_hot(larger, 2).to(torch.float32)
        targets += in_dec.unsqueeze(-1).to(torch.float32) * onehot * self.target_amp
        mask = in_dec | (steps < s2_end) if self.fixate else in_dec
        return TrialBatch(inputs=inputs, targets=targets, mask=mask.to(torch.float32))

    def _amplitudes(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(B, 2) amplitudes, each pair redrawn until it differs by at least ``min_diff``."""
        span = self.amp_max - self.amp_min
        amps = self.amp_min + span * torch.rand(batch_size, 2, generator=generator, dtype=torch.float64)
        bad = (amps[:, 0] - amps[:, 1]).abs() < self.min_diff
        while bad.any():
            fresh = self.amp_min + span * torch.rand(batch_size, 2, generator=generator, dtype=torch.float64)
            amps = torch.where(bad[:, None], fresh, amps)
            bad = (amps[:, 0] - amps[:, 1]).abs() < self.min_diff
        return amps
