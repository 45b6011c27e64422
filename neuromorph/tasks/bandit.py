"""Cue-reward association: a two-armed contextual bandit with Poisson cues and a decision window.

A cue tells which of two arms pays; after an optional delay the network chooses an arm in a short
decision window at the end of the trial. Learned from reward alone by reward-based e-prop
(:mod:`neuromorph.plasticity.reward`), which draws its choices from the readout's softmax and is
rewarded when the choice equals the target (the arm that pays on this trial).

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), Methods "Reward-based e-prop" (cue-reward tasks);
R. S. Sutton, A. G. Barto, *Reinforcement Learning* (2nd ed., 2018), §2.9 (contextual bandits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real, whole_steps

__all__ = ["ContextualBanditTask"]

#: Channel groups, in input order: cue for arm 0, cue for arm 1, background.
N_GROUPS = 3


def _fail(field: str, value: object, allowed: str) -> ConfigError:
    return invalid("ContextualBanditTask", field, value, allowed)


def _steps(field: str, duration: object, dt: float, minimum: int) -> int:
    """:func:`~neuromorph.tasks.base.whole_steps` for this task's fields."""
    return whole_steps("ContextualBanditTask", field, duration, dt, minimum)


@dataclass(frozen=True)
class ContextualBanditTask:
    r"""Two-armed contextual bandit: a Poisson cue names the paying arm; choose in the final window.

    Input channels (``n_in = 3 g``): ``[0, g)`` cue of arm 0, ``[g, 2g)`` cue of arm 1,
    ``[2g, 3g)`` background. Each channel is a Bernoulli process with per-step probability
    :math:`r\,\delta t` (Poisson at rate :math:`r`):

    - the context :math:`c \in \{0, 1\}` is drawn uniformly per trial; the channels of cue
      :math:`c` fire at ``cue_rate`` during :math:`[0, D_\mathrm{cue})`, the other cue is silent;
    - background channels fire at ``background_rate`` throughout;
    - after a ``delay``, the decision window :math:`[D_\mathrm{cue} + \text{delay},\ T)` of
      ``decision_duration`` ends the trial: the mask is 1 there only.

    The target (the arm that pays) is :math:`c` with probability ``reliability`` and
    :math:`1 - c` otherwise, drawn per trial (``reliability = 1``: the cue is always right), so
    the best policy earns an expected reward of ``reliability`` and chance is 1/2.

    Randomness, all from the generator given to :meth:`sample`, in this order: contexts ``(B,)``
    via ``torch.randint``, payoff draws ``(B,)`` via ``torch.rand``, then the raster
    ``(T, B, n_in)`` via ``torch.rand``.

    Parameters
    ----------
    n_in : int
        Input channels, a positive multiple of 3.
    cue_duration, delay, decision_duration : float
        Seconds, whole multiples of ``dt``; ``cue_duration > 0``, ``delay >= 0``,
        ``decision_duration > 0``.
    cue_rate, background_rate : float
        Hz, each with ``0 <= rate * dt <= 1``.
    reliability : float
        Probability that the cued arm pays, in [0.5, 1].
    dt : float
        Step in seconds, > 0.

    Notes
    -----
    ``n_out = 2`` (arms); ``loss = LossKind.CLASSIFICATION`` (targets are the paying arm's index at
    every step, so a supervised rule could also learn it; the reward rule reads it only to pay).
    """

    n_in: int = 30
    cue_duration: float = 0.1
    delay: float = 0.0
    decision_duration: float = 0.02
    cue_rate: float = 50.0
    background_rate: float = 5.0
    reliability: float = 1.0
    dt: float = 1e-3

    def __post_init__(self) -> None:
        if not is_real(self.dt) or self.dt <= 0:
            raise _fail("dt", self.dt, "expected a finite float > 0 (seconds)")
        if not is_int(self.n_in) or self.n_in < N_GROUPS or self.n_in % N_GROUPS:
            raise _fail("n_in", self.n_in, "expected a positive multiple of 3 (cue 0, cue 1, background)")
        _steps("cue_duration", self.cue_duration, self.dt, 1)
        _steps("delay", self.delay, self.dt, 0)
        _steps("decision_duration", self.decision_duration, self.dt, 1)
        for name in ("cue_rate", "background_rate"):
            rate = getattr(self, name)
            if not is_real(rate) or not 0.0 <= rate * self.dt <= 1.0:
                raise _fail(name, rate, f"expected 0 <= rate <= 1/dt = {1.0 / self.dt:g} Hz")
        if not is_real(self.reliability) or not 0.5 <= self.reliability <= 1.0:
            raise _fail("reliability", self.reliability, "expected a probability in [0.5, 1]")

    @property
    def n_out(self) -> int:
        """Number of arms."""
        return 2

    @property
    def loss(self) -> LossKind:
        """The target is an arm index (softmax readout)."""
        return LossKind.CLASSIFICATION

    @property
    def n_steps(self) -> int:
        """Trial length T: cue, delay and decision window."""
        return self.decision_window().stop

    def decision_window(self) -> range:
        """Step range where the mask is 1 (the choice is made)."""
        start = _steps("cue_duration", self.cue_duration, self.dt, 1) + _steps("delay", self.delay, self.dt, 0)
        return range(start, start + _steps("decision_duration", self.decision_duration, self.dt, 1))

    def spike_probability(self, context: torch.Tensor) -> torch.Tensor:
        r"""Per-step spike probability :math:`r\,\delta t` (T, B, n_in) for contexts ``context`` (B,)."""
        g, batch = self.n_in // N_GROUPS, context.shape[0]
        prob = torch.zeros(self.n_steps, batch, self.n_in, dtype=torch.float32)
        prob[:, :, 2 * g:] = self.background_rate * self.dt
        cue = _steps("cue_duration", self.cue_duration, self.dt, 1)
        for arm in (0, 1):
            prob[:cue, context == arm, arm * g:(arm + 1) * g] = self.cue_rate * self.dt
        return prob

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Draw ``batch_size`` trials.

        Returns
        -------
        TrialBatch
            inputs (T, B, n_in) float32 0/1; targets (T, B) int64, the paying arm at every step;
            mask (T, B) float32, 1 in the decision window only.
        """
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an int >= 1")
        if not isinstance(generator, torch.Generator):
            raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        context = torch.randint(0, 2, (batch_size,), generator=generator)
        cued = torch.rand(batch_size, generator=generator) < self.reliability
        paying = torch.where(cued, context, 1 - context)
        prob = self.spike_probability(context)
        inputs = (torch.rand(prob.shape, generator=generator) < prob).float()
        targets = paying[None, :].expand(self.n_steps, batch_size).contiguous()
        mask = torch.zeros(self.n_steps, batch_size, dtype=torch.float32)
        window = self.decision_window()
        mask[window.start:window.stop] = 1.0
        return TrialBatch(inputs=inputs, targets=targets, mask=mask)
