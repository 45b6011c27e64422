r"""Training a contrastive network three ways: classical, temporally local with periodic phases, and
temporally local with random phases, through the engine.

The network is the engine's (:mod:`.layout`: energy-descent rate units or filtered-rate LIF neurons,
:mod:`neuromorph.dynamics.energy`), the rule is a rule of the common interface
(:mod:`neuromorph.plasticity.contrastive`: it teaches in the positive phase and computes its
updates) and every presentation of a minibatch is one sequence trained by
:meth:`neuromorph.engine.Session.step`, the step :mod:`neuromorph.experiment` runs: this module
only lays out the schedule (epochs, minibatches, the phase of every step, the learning-rate decay)
and evaluates with the backend's ``simulate``.

Every scheme shows each minibatch for ``steps`` steps of the network's dynamics, starting from rest
(``[contrastive.phases] reset = true``, as in the evaluation) or from the previous minibatch's state, so all
three schemes see the same transients.

* ``classical``: ``steps/2`` free steps, **store** the free state's Hebbian term :math:`g_-`, then
  ``steps/2`` nudged/clamped steps and one update :math:`\Delta\theta = \eta c\,[g_+ - g_-]`
  (c = 1/β for EP, 1 otherwise): :class:`~neuromorph.plasticity.contrastive.ClassicalContrastive`.
* ``periodic``: the same phases, but the update :math:`\eta_\text{step} c\, s_t g(a_t)` is applied at
  every step, transients included, with no stored state
  (:class:`~neuromorph.plasticity.contrastive.Contrastive`).
* ``random``: as ``periodic``, with the phase drawn from the card's random process (telegraph or
  renewal), which runs on across minibatches, independent of them.

``[contrastive] baseline_steps`` applies to the ``random`` scheme only. It is a control variate for the
noise from the random occupancy of each phase. Periodic phases have exact occupancy, so there is no
such noise to reduce, and there the slow trace is phase-locked to the input switches (it drifts
towards the new input's ``g`` during the free half and is subtracted during the nudged half), which
is a systematic, non-contrastive bias: on XOR (seeds 1 and 2) it held the periodic scheme at 3/4
patterns, and without it all of seeds 0-3 reach 4/4 (docs/contrastive.md).

``[contrastive.phases] burn_in`` (default 0) prepends that many free steps to every presentation, in every
scheme, with the plasticity off: the broadcast third factor is :math:`s_t = 0` while the network
relaxes to the new input. The local rule then no longer learns on the input-switch transient, which
the classical rule never reads (it only reads the two phases' end states). The rule stays temporally
local (no stored state), but the broadcast signal now also carries "hold" after each input switch:
a three-valued third factor instead of a two-valued one, at the same scope.

The per-step rate is :math:`\eta_\text{step} = 2\eta/\text{steps}`, so that at equilibrium the
expected update per minibatch, :math:`\text{steps}\cdot\eta_\text{step}\cdot\frac12(g_+ - g_-)`,
equals the classical one. With ``[contrastive] kappa_lr = true`` the local schemes divide it by the predicted
κ of their phase process (:func:`local_kappa`), which undoes the transient shrinkage of the drift
(Williams, Bredenberg & Lajoie 2023, docs/contrastive.md: the drift is :math:`\kappa\cdot\frac12\nabla L`), so that
all three schemes follow
the same flow at the same nominal rate. Measured on digits (seed 0, 100 epochs), this made both local
schemes worse (periodic 0.904 -> 0.878, random 0.891 -> 0.871): their gap is not a rate deficit, so
the shipped cards leave it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuromorph.backends.base import Curriculum, CurriculumResult, Presentation
from neuromorph.backends.registry import Backend
from neuromorph.contrastive import layout, models
from neuromorph.contrastive.card import ContrastiveCard
from neuromorph.contrastive.data import Dataset
from neuromorph.contrastive.phases import predicted_kappa, predicted_kappa_periodic
from neuromorph.engine import Session, run_curriculum
from neuromorph.errors import ConfigError, NonFiniteError
from neuromorph.network import layered, layers
from neuromorph.plasticity import OptimizerName, OptimizerSpec
from neuromorph.types import LossKind


@dataclass
class Curve:
    """One (scheme, seed) run: accuracies after each epoch (index 0: before training)."""

    scheme: str
    seed: int
    train_acc: np.ndarray
    test_acc: np.ndarray
    params: dict[str, np.ndarray]
    raster: dict[str, np.ndarray] | None = None  #: phase, signal, rates and one weight over time (first epoch)

    @property
    def final_test(self) -> float:
        return float(self.test_acc[-1])


def local_kappa(card: ContrastiveCard, scheme: str) -> float:
    r"""The predicted transient shrinkage κ of ``scheme`` (Williams et al. 2023; docs/contrastive.md), with
    the relaxation time :math:`\tau/dt` in steps: periodic phases of ``steps/2`` each, or telegraph phases
    with the card's mean dwell times; 1 for classical."""
    tau_steps = card.network.neuron.tau / card.network.dt
    if scheme == "classical":
        return 1.0
    if scheme == "periodic":
        return float(predicted_kappa_periodic(tau_steps, card.phases.steps // 2))
    if card.phases.random != "telegraph":
        raise ConfigError(f"{card.path}: [contrastive] kappa_lr needs [contrastive.phases] random = \"telegraph\" "
                          "(κ is predicted for periodic and telegraph phases only)")
    return predicted_kappa(tau_steps, card.phases.mean_plus, card.phases.mean_minus)


def _phases(card: ContrastiveCard, scheme: str, n_steps: int, gen: np.random.Generator) -> tuple[np.ndarray, float]:
    """The phase sequence over the whole run and its occupancy p+ (classical uses the periodic one)."""
    process = card.periodic() if scheme != "random" else card.random_process()
    return process.sample(n_steps, gen), process.p_plus


def presentation_phases(card: ContrastiveCard, scheme: str, phases: np.ndarray) -> tuple[float, ...]:
    """The phase of each step of one presentation: the burn-in (0: free, plasticity off), then free and
    nudged halves (classical) or the process's phases (True: positive)."""
    burn, half = card.phases.burn_in, card.phases.steps // 2
    if scheme == "classical":
        return (0.0,) * burn + (-1.0,) * half + (1.0,) * half
    return (0.0,) * burn + tuple(1.0 if p else -1.0 for p in phases)


def curriculum(card: ContrastiveCard, data: Dataset, scheme: str, seed: int, gen: torch.Generator,
               dtype: torch.dtype, record_raster: bool = False) -> Curriculum:
    """The whole schedule of one (scheme, seed): every epoch's minibatches (permutations from ``gen``, after
    the initial weights), the phase of every step (the process drawn from ``[seed, 1]``), the linearly
    decaying η, and an evaluation of every training and test sample before training and after each epoch."""
    t, steps = card.train, card.phases.steps
    n = len(data.x_train)
    n_batches = -(-n // t.batch_size)
    phases, _ = _phases(card, scheme, t.epochs * n_batches * steps, np.random.default_rng([seed, 1]))
    lr = t.lr if scheme == "classical" else 2.0 * t.lr / steps / (local_kappa(card, scheme) if t.kappa_lr else 1.0)
    shown = []
    for epoch in range(t.epochs):
        order = torch.randperm(n, generator=gen)
        decay = 1.0 - epoch / t.epochs if t.lr_decay else 1.0
        for b in range(n_batches):
            idx = order[b * t.batch_size:(b + 1) * t.batch_size]
            if len(idx) < t.batch_size:  # keep the batch size fixed: the state is carried over
                idx = torch.cat([idx, order[:t.batch_size - len(idx)]])
            k = (epoch * n_batches + b) * steps
            shown.append(Presentation(idx, presentation_phases(card, scheme, phases[k:k + steps]), decay * lr,
                                      card.phases.reset, record_raster and epoch == 0 and scheme != "classical"))
    x = torch.cat([data.x_train, data.x_test]).to(dtype)
    y = torch.cat([data.y_train, data.y_test]).to(dtype)
    average = t.eval_steps // 2 if card.model == "spiking" else 1  # the filtered rate fluctuates
    return Curriculum(x, y, tuple(shown), tuple(e * n_batches for e in range(t.epochs + 1)), torch.arange(len(x)),
                      t.eval_steps, max(average, 1), (card.network.n_hidden, 4))


def _session(card: ContrastiveCard, data: Dataset, scheme: str, seed: int, p_plus: float, dtype: torch.dtype,
             backend: Backend | None) -> tuple[Session, torch.Generator]:
    """The seed's initial weights (drawn first from the seed's generator) in a session of the engine."""
    net = card.net_spec(data.n_in, data.n_out)
    gen = torch.Generator().manual_seed(seed)
    init = models.init_params(net, gen, card.network.init_scale, dtype)
    spec = layout.network_spec(card.network.neuron, net)
    session = Session.create(spec, card.learning_rule(scheme, p_plus), LossKind.REGRESSION,
                             OptimizerSpec(OptimizerName.SGD, lr=card.train.lr), layered(**init),
                             torch.zeros(spec.n_rec, spec.n_out, dtype=dtype), dtype=dtype, backend=backend,
                             masks=layout.masks(net, dtype))
    return session, gen


@torch.no_grad()
def train_scheme(card: ContrastiveCard, data: Dataset, scheme: str, seed: int, *, progress: bool = False,
                 record_raster: bool = False, dtype: torch.dtype = torch.float32,
                 backend: Backend | None = None) -> Curve:
    """Train one network from the seed's initial weights with ``scheme`` (module docstring)."""
    p_plus = (card.periodic() if scheme != "random" else card.random_process()).p_plus
    session, gen = _session(card, data, scheme, seed, p_plus, dtype, backend)
    plan = curriculum(card, data, scheme, seed, gen, dtype, record_raster)
    res = run_curriculum(session, plan, progress=progress, desc=f"{card.task.name} {scheme} seed {seed}")
    if res.diverged is not None:
        raise NonFiniteError(f"{card.path}: {scheme} seed {seed} diverged in epoch {res.diverged - 1}; "
                             "lower [contrastive] lr")
    labels = plan.y.argmax(1)
    correct = (res.outputs.argmax(2) == labels).double()  # (evaluations, samples)
    n_train = len(data.x_train)
    params = {n: v.cpu().numpy() for n, v in layers(res.params, card.network.n_hidden).items()}
    return Curve(scheme, seed, correct[:, :n_train].mean(1).numpy(), correct[:, n_train:].mean(1).numpy(), params,
                 _raster(plan, res, session) if record_raster and res.raster else None)


def _raster(plan: Curriculum, res: CurriculumResult, session: Session) -> dict[str, np.ndarray]:
    """The first epoch of a local scheme, step by step: phase, broadcast signal, the output rates, four weights."""
    phases = [phase for p in plan.presentations if p.record for phase in p.phase if phase]
    return {"phase": np.array([p > 0 for p in phases]), "signal": np.array([session.rule.signal(p) for p in phases]),
            "rate_out": res.raster["y"].cpu().numpy(), "weight": res.raster["weight"].cpu().numpy()}
