r"""Reward-based e-prop: a three-factor rule whose third factor is a broadcast reward prediction error.

A simplified, trial-level form of reward-based e-prop (Bellec et al. 2020, Methods "Reward-based
e-prop"): REINFORCE with a running-mean reward baseline, the score function computed by e-prop's
eligibility traces. Per trial :math:`b` of a batch of :math:`B`:

* **policy.** At each decision step :math:`t` (mask :math:`m_{b,t} = 1`) the readout defines
  :math:`\pi_{b,t} = \mathrm{softmax}(y_{b,t})`; an action :math:`a_{b,t} \sim \pi_{b,t}` is drawn
  from the run's generator (``ctx.generator``);
* **policy-gradient output error and learning signal.**
  :math:`\delta_{b,t} = m_{b,t}(\pi_{b,t} - \mathrm{onehot}(a_{b,t}))`,
  :math:`L_{b,j,t} = \sum_k B_{jk}\,\delta_{b,k,t}` with :math:`B = W^{\mathrm{out}\top}`;
* **per-trial eligibility of the choices** (e-prop's :math:`\bar e` through the neuron, :mod:`.eprop`):

  .. math::

      A_{b,ji} = \sum_t L_{b,j,t}\, \bar e_{b,ji,t}, \qquad
      A^\mathrm{out}_{b,kj} = \sum_t \delta_{b,k,t}\, Z^{\kappa}_{b,j,t};

  where e-prop is exact (e.g. :math:`W^\mathrm{rec} = 0`),
  :math:`A_b = -\sum_t m_{b,t}\nabla_\theta \log\pi_{b,t}(a_{b,t})`;
* **reward** at the end of the trial: :math:`R_b = \frac{1}{n_b}\sum_t m_{b,t}\,[a_{b,t} = y^*_{b,t}]`
  (the fraction of rewarded decisions; :math:`n_b = \sum_t m_{b,t}`, :math:`R_b = 0` if
  :math:`n_b = 0`), with :math:`y^*` the task's target class (a task makes payoffs stochastic
  by drawing the paying arm into the target);
* **broadcast third factor and update**: the reward prediction error against the running mean
  :math:`\bar R` (the critic-free baseline),

  .. math::

      g = \frac{1}{B}\sum_b (R_b - \bar R)\, A_b \;(+\ \text{e-prop's rate term}), \qquad
      \bar R \leftarrow \lambda \bar R + (1-\lambda)\frac{1}{B}\sum_b R_b

  with decay :math:`\lambda` = ``baseline_decay`` applied *after* :math:`g` is formed (so
  :math:`\bar R` is independent of this batch's actions and :math:`E[g] = -\nabla_\theta E[R]`
  exactly where e-prop is exact); :math:`\bar R` starts at ``baseline_init``;
  :math:`\lambda = 1` keeps it there (``baseline_init = 0``: plain REINFORCE).
  ``apply`` subtracts :math:`\eta g`, so the update ascends the expected reward.

One update per trial (``update_interval = None``); anything else is refused. Feedback is symmetric
only: :class:`~neuromorph.plasticity.base.StepSignals` carries :math:`W^\mathrm{out}` but not a
random feedback matrix, which the step would need to send its own error back.

The baseline :math:`\bar R` is the rule's only state across trials; it lives in the run's
``ctx.carry`` (``"reward_baseline"``), which the training loop checkpoints, so a resumed run goes on
with it; a fresh carry starts at ``baseline_init``.

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), Methods "Reward-based e-prop";
R. J. Williams, Mach. Learn. 8:229 (1992) (REINFORCE with a baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import torch

from neuromorph.errors import ConfigError
from neuromorph.plasticity.base import (
    DEFAULT_TARGETS,
    PER_NEURON,
    Read,
    Rule,
    RuleContext,
    Scope,
    Signal,
    StepSignals,
    Target,
    Temporal,
)
from neuromorph.plasticity.eprop import EProp, EPropState, Feedback, Mode
from neuromorph.plasticity.eprop_online import online_gradients
from neuromorph.plasticity.losses import RateRegularization

__all__ = ["RewardEProp", "RewardState", "expected_reward"]


class RewardState(NamedTuple):
    """The composed e-prop state, the per-trial accumulators :math:`A_b` and the trial's rewards."""

    eprop: EPropState
    acc: dict[Target, torch.Tensor]  #: A_b per target, ``(B, *shape)`` of the target (per-neuron: (B, n, 1))
    rewarded: torch.Tensor  #: (B,) rewarded decisions so far
    decisions: torch.Tensor  #: (B,) decision steps so far


@dataclass(frozen=True)
class RewardEProp(Rule):
    """Reward-based e-prop (module docstring); ``rule.name = "reward_eprop"``."""

    feedback: Feedback = Feedback.SYMMETRIC
    update_interval: int | None = None
    targets: frozenset[Target] = DEFAULT_TARGETS
    regularization: RateRegularization = field(default_factory=RateRegularization)
    baseline_decay: float = 0.9  #: λ of the running mean reward
    baseline_init: float = 0.0  #: R̄ before the first update
    name: ClassVar[str] = "reward_eprop"
    _eprop: EProp | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.update_interval is not None:
            raise ConfigError(f"{self.name} updates once per trial, when the reward arrives: rule.update_interval "
                              f"must be unset (None), got {self.update_interval!r}")
        if self.feedback is not Feedback.SYMMETRIC:
            raise ConfigError(f"{self.name} supports rule.feedback = \"symmetric\" only, got "
                              f"{self.feedback.value!r} (the step sends its sampled error back through W_out^T)")
        if not 0.0 <= self.baseline_decay <= 1.0:
            raise ConfigError(f"rule.baseline_decay must be in [0, 1], got {self.baseline_decay!r}")
        inner = EProp(feedback=Feedback.SYMMETRIC, mode=Mode.ONLINE, targets=self.targets,
                      regularization=self.regularization)  # e-prop's own checks of the targets
        object.__setattr__(self, "_eprop", inner)

    @property
    def eprop(self) -> EProp:
        """The composed e-prop rule whose traces and eligibility this rule reuses (online mode)."""
        return self._eprop

    @property
    def temporal(self) -> Temporal:
        return Temporal.ONLINE

    @property
    def reads(self) -> frozenset[Read]:
        """e-prop's reads plus the reward prediction error, one signed value broadcast over the chip."""
        return self.eprop.reads | {Read(Signal.BROADCAST_SIGNAL, Scope.CHIP, signed=True)}

    def check(self, network) -> None:
        """e-prop's check (the neuron's eligibility terms), and a readout of at least two actions."""
        self.eprop.check(network)
        if network.n_out < 2:
            raise ConfigError(f"{self.name} draws one of n_out actions from a softmax; n_out must be >= 2, "
                              f"got {network.n_out}")

    def third_factor(self, delta: torch.Tensor, params, feedback: torch.Tensor) -> torch.Tensor:
        r""":math:`L = \delta\, W^\mathrm{out}` for an error :math:`\delta` (symmetric feedback).

        The loop's own :math:`\delta` (the task's supervised error) is not used for learning:
        :meth:`step` draws the action and sends the policy-gradient error back with this function.
        """
        return self.eprop.third_factor(delta, params, feedback)

    def initial(self, ctx: RuleContext) -> RewardState:
        if ctx.generator is None:
            raise ConfigError(f"{self.name} draws actions and needs the run's generator: pass "
                              "train_sequence(..., generator=torch.Generator().manual_seed(seed))")
        inner = self.eprop.initial(ctx)
        acc = {t: torch.zeros(ctx.batch, *a.shape, dtype=ctx.dtype, device=ctx.device)
               for t, a in inner.online.acc.items()}
        zeros = torch.zeros(ctx.batch, dtype=ctx.dtype, device=ctx.device)
        return RewardState(inner, acc, zeros, zeros.clone())

    def step(self, state: RewardState, s: StepSignals, ctx: RuleContext) -> RewardState:
        r"""Draw :math:`a_t`; form :math:`\delta_t`, :math:`L_t`; advance e-prop; add to :math:`A_b` and the reward."""
        if s.target.is_floating_point():
            raise ConfigError(f"{self.name} rewards the task's target class; it needs a classification task")
        delta, action = policy_error(s.y, s.mask, ctx.generator)
        learning = self.third_factor(delta, s.params, None)
        inner = self.eprop.step(state.eprop, s._replace(delta=delta, learning=learning), ctx)
        acc, tr = dict(state.acc), inner.traces
        for target, ebar in inner.online.ebar.items():
            acc[target] = acc[target] + learning.unsqueeze(2) * ebar
        if Target.W_OUT in acc:
            acc[Target.W_OUT] = acc[Target.W_OUT] + delta.unsqueeze(2) * tr.out.unsqueeze(1)
        if Target.B_OUT in acc:
            acc[Target.B_OUT] = acc[Target.B_OUT] + delta.unsqueeze(2) * tr.out_bias.unsqueeze(1)
        hit = (action == s.target).to(ctx.dtype)
        return RewardState(inner, acc, state.rewarded + s.mask * hit, state.decisions + s.mask)

    def trial_reward(self, state: RewardState) -> torch.Tensor:
        """:math:`R_b`, the fraction of rewarded decisions of each trial (B,); 0 for a trial without decisions."""
        return state.rewarded / state.decisions.clamp(min=1.0)

    def baseline(self, carry: dict | None) -> float:
        r"""The running mean reward :math:`\bar R` held in a run's ``carry``."""
        return float(carry.get("reward_baseline", self.baseline_init)) if carry is not None else self.baseline_init

    def gradients(self, state: RewardState, ctx: RuleContext) -> tuple[dict[Target, torch.Tensor], RewardState]:
        r""":math:`g = \frac1B\sum_b (R_b - \bar R) A_b` (+ the rate term); then :math:`\bar R` is updated."""
        reward = self.trial_reward(state)
        baseline = self.baseline(ctx.carry)
        rpe = reward - baseline
        no_acc = {t: torch.zeros_like(a) for t, a in state.eprop.online.acc.items()}
        grads, online = online_gradients(state.eprop.online._replace(acc=no_acc), self.regularization, ctx.dt)
        for target, a in state.acc.items():
            g = torch.tensordot(rpe, a, dims=1) / reward.shape[0]
            grads[target] = grads[target] + (g.squeeze(1) if target in PER_NEURON else g)
        lam = self.baseline_decay
        if ctx.carry is not None:
            ctx.carry["reward_baseline"] = lam * baseline + (1.0 - lam) * float(reward.mean())
        acc = {t: torch.zeros_like(a) for t, a in state.acc.items()}
        cleared = RewardState(state.eprop._replace(online=online), acc, torch.zeros_like(state.rewarded),
                              torch.zeros_like(state.decisions))
        return grads, cleared

    def observe(self, state: RewardState, s: StepSignals, ctx: RuleContext) -> dict[str, torch.Tensor]:
        """e-prop's traces and the rewarded decisions so far (batch element 0 is stored)."""
        inner = self.eprop.observe(state.eprop, s, ctx)
        del inner["learning_signal"], inner["output_error"]  # the loop's supervised signals, not this rule's
        return {**inner, "rewarded": state.rewarded.unsqueeze(1)}


def policy_error(y: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw :math:`a \sim \mathrm{softmax}(y)` per row; return :math:`m(\pi - \mathrm{onehot}(a))` and :math:`a`.

    One uniform number per trial and step, always drawn (so the stream does not depend on the mask):
    :math:`a = \#\{k : \sum_{k' \le k} \pi_{k'} < u\}`, :math:`u \sim U(0, 1)` (inverse CDF).
    """
    pi = torch.softmax(y, dim=-1)
    u = torch.rand(y.shape[0], 1, generator=generator, dtype=y.dtype)  # the run's (CPU) stream on every device
    if y.device.type != "cpu":
        u = u.to(y.device, non_blocking=True)  # a copy queued behind the step, not a synchronisation
    action = (pi.cumsum(-1) < u).sum(-1).clamp(max=y.shape[-1] - 1)
    onehot = torch.nn.functional.one_hot(action, y.shape[-1]).to(y.dtype)
    return mask.unsqueeze(1) * (pi - onehot), action


def expected_reward(y: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""The policy's expected reward :math:`\frac1B\sum_b \frac{1}{n_b}\sum_t m_{b,t}\pi_{b,t}(y^*_{b,t})`.

    Differentiable; ``y`` (T, B, n_out), ``targets`` (T, B) class index, ``mask`` (T, B).
    """
    pi_target = torch.softmax(y, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    per_trial = (mask * pi_target).sum(0) / mask.sum(0).clamp(min=1.0)
    return per_trial.mean()
