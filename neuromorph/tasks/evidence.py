"""Evidence accumulation: count left and right cues, report the majority after a delay.

The e-prop tutorial task "evidence accumulation" (Bellec et al. 2020, Fig. 3; official code
``tutorial_evidence_accumulation_with_alif.py`` and ``tools.py::generate_click_task_data``),
after the rodent task of Morcos & Harvey (2016).

References
----------
G. Bellec et al., "A solution to the learning dilemma for recurrent networks of spiking neurons",
Nat. Commun. 11:3625 (2020), Fig. 3; official code IGITUGraz/eligibility_propagation.
A. S. Morcos, C. D. Harvey, "History-dependent variability in population dynamics during evidence
accumulation in cortex", Nat. Neurosci. 19:1672 (2016).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real, whole_steps

__all__ = ["EvidenceAccumulationTask"]

#: Channel groups, in input order: left cue, right cue, recall cue, background.
N_GROUPS = 4


def _fail(field: str, value: object, allowed: str) -> ConfigError:
    return invalid("EvidenceAccumulationTask", field, value, allowed)


def _n_steps(field: str, duration: object, dt: float, minimum: int) -> int:
    """:func:`~neuromorph.tasks.base.whole_steps` for this task's fields."""
    return whole_steps("EvidenceAccumulationTask", field, duration, dt, minimum)


@dataclass(frozen=True)
class EvidenceAccumulationTask:
    r"""Seven left/right cues, a delay, then a recall cue; classify the majority side.

    Input channels (``n_in = 4 g``, ``g = n_in // 4``, tutorial ``n_in = 40``): ``[0, g)`` left
    cue, ``[g, 2g)`` right cue, ``[2g, 3g)`` recall cue, ``[3g, 4g)`` background. Every channel
    is a Bernoulli process with per-step probability :math:`r\,\delta t`:

    - background channels fire at ``background_rate`` (10 Hz) throughout the trial;
    - cue ``k`` (``k = 0..n_cues-1``) occupies the steps
      :math:`[kP + (P - D),\ (k+1)P)` with period :math:`P` = ``cue_period`` (150 ms) and
      duration :math:`D` = ``cue_duration`` (100 ms): each period starts with :math:`P - D`
      (50 ms) of silence. During cue ``k`` the channels of its side fire at ``cue_rate``
      (40 Hz); cue channels are silent otherwise;
    - a ``delay`` (1050 ms) follows the last period, then the recall window
      :math:`[n_{cues}P + \text{delay},\ T)` of ``recall_duration`` (150 ms), during which the
      recall channels fire at ``recall_rate`` (40 Hz).

    Hence :math:`T = n_{cues}P + \text{delay} + \text{recall}` (2250 steps by default, as in the
    tutorial: ``seq_len = 150 * 7 + 1200``). Each cue is right with probability 1/2,
    independently (the tutorial instead draws, per trial, a side bias p = 0.3 or 0.7). The class
    is the majority side, :math:`c = [\#\text{right} > n_{cues}/2]` (0 = left, 1 = right); ties
    are impossible because ``n_cues`` must be odd.

    Randomness, all from the generator given to :meth:`sample`, in this order: the cue sides
    ``(B, n_cues)`` via ``torch.randint``, then the raster ``(T, B, n_in)`` via ``torch.rand``.

    Parameters
    ----------
    n_in : int
        Input channels, a positive multiple of 4.
    n_cues : int
        Number of cues, odd, >= 1.
    cue_duration, cue_period, delay, recall_duration : float
        Seconds, whole multiples of ``dt``; ``0 < cue_duration <= cue_period``, ``delay >= 0``
        (use e.g. ``delay=0.2`` for a short-delay curriculum), ``recall_duration > 0``.
    cue_rate, recall_rate, background_rate : float
        Hz, each with ``0 <= rate * dt <= 1``.
    dt : float
        Step in seconds, > 0.
    silent_steps : int, optional
        Keep every input silent in the first ``silent_steps`` steps of a trial (``None``, the default: no change;
        NEST's e-prop tutorials leave the first steps of a sequence empty; the NEST backend does not need it,
        docs/nest.md). Only background spikes are removed while it is shorter than the gap before
        the first cue (50 steps with the defaults).

    Notes
    -----
    ``n_out = 2``; ``loss = LossKind.CLASSIFICATION``; targets hold the class at every step;
    the mask is 1 only in the recall window (the tutorial's loss uses the last 150 steps).

    References
    ----------
    Bellec et al., Nat. Commun. 11:3625 (2020), Fig. 3 and Methods "Evidence accumulation task".
    """

    n_in: int = 40
    n_cues: int = 7
    cue_duration: float = 0.1
    cue_period: float = 0.15
    delay: float = 1.05
    recall_duration: float = 0.15
    cue_rate: float = 40.0
    recall_rate: float = 40.0
    background_rate: float = 10.0
    dt: float = 1e-3
    silent_steps: int | None = None

    def __post_init__(self) -> None:
        if not is_real(self.dt) or self.dt <= 0:
            raise _fail("dt", self.dt, "expected a finite float > 0 (seconds)")
        if not is_int(self.n_in) or self.n_in < N_GROUPS or self.n_in % N_GROUPS:
            allowed = "expected a positive multiple of 4 (left, right, recall, background)"
            raise _fail("n_in", self.n_in, allowed)
        if not is_int(self.n_cues) or self.n_cues < 1 or self.n_cues % 2 == 0:
            allowed = "expected an odd int >= 1 (so the majority is never tied)"
            raise _fail("n_cues", self.n_cues, allowed)
        cue = _n_steps("cue_duration", self.cue_duration, self.dt, 1)
        if _n_steps("cue_period", self.cue_period, self.dt, 1) < cue:
            allowed = f"expected >= cue_duration={self.cue_duration}"
            raise _fail("cue_period", self.cue_period, allowed)
        _n_steps("delay", self.delay, self.dt, 0)
        _n_steps("recall_duration", self.recall_duration, self.dt, 1)
        for name in ("cue_rate", "recall_rate", "background_rate"):
            rate = getattr(self, name)
            if not is_real(rate) or not 0.0 <= rate * self.dt <= 1.0:
                raise _fail(name, rate, f"expected 0 <= rate <= 1/dt = {1.0 / self.dt:g} Hz")
        if self.silent_steps is not None and (not is_int(self.silent_steps) or self.silent_steps < 0):
            raise _fail("silent_steps", self.silent_steps, "expected an int >= 0")

    # -- protocol attributes ------------------------------------------------------------------
    @property
    def n_out(self) -> int:
        """Number of classes (left, right)."""
        return 2

    @property
    def loss(self) -> LossKind:
        """Softmax cross-entropy on the class index."""
        return LossKind.CLASSIFICATION

    @property
    def n_steps(self) -> int:
        """Trial length T in steps: ``n_cues * cue_period + delay + recall_duration``."""
        return self.recall_window().stop

    # -- layout ---------------------------------------------------------------------------------
    def _steps(self, name: str) -> int:
        return _n_steps(name, getattr(self, name), self.dt, 0)

    def channels(self) -> tuple[range, range, range, range]:
        """Channel index ranges (left, right, recall, background)."""
        g = self.n_in // N_GROUPS
        left, right, recall, background = (range(i * g, (i + 1) * g) for i in range(N_GROUPS))
        return left, right, recall, background

    def cue_windows(self) -> list[range]:
        """Step ranges of the ``n_cues`` cues: ``[kP + P - D, (k+1)P)``."""
        period, cue = self._steps("cue_period"), self._steps("cue_duration")
        return [range(k * period + period - cue, (k + 1) * period) for k in range(self.n_cues)]

    def recall_window(self) -> range:
        """Step range of the recall cue, which is also where the mask is 1."""
        start = self.n_cues * self._steps("cue_period") + self._steps("delay")
        return range(start, start + self._steps("recall_duration"))

    # -- sampling -------------------------------------------------------------------------------
    def spike_probability(self, sides: torch.Tensor) -> torch.Tensor:
        r"""Per-step spike probability :math:`r\,\delta t` for given cue sides.

        Parameters
        ----------
        sides : Tensor, shape (B, n_cues), int
            0 = left, 1 = right.

        Returns
        -------
        Tensor, shape (T, B, n_in), float32
        """
        batch = sides.shape[0]
        left, right, recall, background = self.channels()
        prob = torch.zeros(self.n_steps, batch, self.n_in, dtype=torch.float32)
        prob[:, :, background.start : background.stop] = self.background_rate * self.dt
        window = self.recall_window()
        prob[window.start : window.stop, :, recall.start : recall.stop] = self.recall_rate * self.dt
        cue_p = self.cue_rate * self.dt
        for k, steps in enumerate(self.cue_windows()):
            is_right = sides[:, k].bool()
            block = prob[steps.start : steps.stop]  # view (D, B, n_in)
            block[:, is_right, right.start : right.stop] = cue_p
            block[:, ~is_right, left.start : left.stop] = cue_p
        return prob

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Draw ``batch_size`` trials.

        Returns
        -------
        TrialBatch
            inputs (T, B, n_in) float32 0/1; targets (T, B) int64 class (0 left, 1 right) at
            every step; mask (T, B) float32, 1 in the recall window only.
        """
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an int >= 1")
        if not isinstance(generator, torch.Generator):
            kind = type(generator).__name__
            raise ConfigError(f"generator must be a torch.Generator, got {kind}")
        sides = torch.randint(0, 2, (batch_size, self.n_cues), generator=generator)
        prob = self.spike_probability(sides)
        inputs = (torch.rand(prob.shape, generator=generator) < prob).float()
        if self.silent_steps:
            inputs[: self.silent_steps] = 0.0
        label = (sides.sum(dim=1) > self.n_cues // 2).to(torch.int64)
        targets = label[None, :].expand(self.n_steps, batch_size).contiguous()
        mask = torch.zeros(self.n_steps, batch_size, dtype=torch.float32)
        window = self.recall_window()
        mask[window.start : window.stop] = 1.0
        return TrialBatch(inputs=inputs, targets=targets, mask=mask)
