r"""Training a contrastive network three ways: classical, temporally local with periodic phases, and
temporally local with random phases.

Every scheme shows each minibatch for ``steps`` steps of the network's dynamics, starting from rest
(``[phases] reset = true``, as in the evaluation) or from the previous minibatch's state, so all
three schemes see the same transients.

* ``classical``: ``steps/2`` free steps, **store** the free state's Hebbian term :math:`g_-`, then
  ``steps/2`` nudged/clamped steps and one update :math:`\Delta\theta = \eta c\,[g_+ - g_-]`
  (c = 1/β for EP, 1 otherwise): :class:`~neuromorph.plasticity.contrastive.ClassicalContrastive`.
* ``periodic``: the same phases, but the update :math:`\eta_\text{step} c\, s_t g(a_t)` is applied at
  every step, transients included, with no stored state
  (:class:`~neuromorph.plasticity.contrastive.Contrastive`).
* ``random``: as ``periodic``, with the phase drawn from the card's random process (telegraph or
  renewal), which runs on across minibatches, independent of them.

``[train] baseline_steps`` applies to the ``random`` scheme only. It is a control variate for the
noise from the random occupancy of each phase. Periodic phases have exact occupancy, so there is no
such noise to reduce, and there the slow trace is phase-locked to the input switches (it drifts
towards the new input's ``g`` during the free half and is subtracted during the nudged half), which
is a systematic, non-contrastive bias: on XOR (seeds 1 and 2) it held the periodic scheme at 3/4
patterns, and without it all of seeds 0-3 reach 4/4 (docs/contrastive.md).

``[phases] burn_in`` (default 0) prepends that many free steps to every presentation, in every
scheme, with the plasticity off: the broadcast third factor is :math:`s_t = 0` while the network
relaxes to the new input. The local rule then no longer learns on the input-switch transient, which
the classical rule never reads (it only reads the two phases' end states). The rule stays temporally
local (no stored state), but the broadcast signal now also carries "hold" after each input switch:
a three-valued third factor instead of a two-valued one, at the same scope.

The per-step rate is :math:`\eta_\text{step} = 2\eta/\text{steps}`, so that at equilibrium the
expected update per minibatch, :math:`\text{steps}\cdot\eta_\text{step}\cdot\frac12(g_+ - g_-)`,
equals the classical one. With ``[train] kappa_lr = true`` the local schemes divide it by the predicted
κ of their phase process (:func:`local_kappa`), which undoes the transient shrinkage of the drift
(THEORY.md §3.2: the drift is :math:`\kappa\cdot\frac12\nabla L`), so that all three schemes follow
the same flow at the same nominal rate. Measured on digits (seed 0, 100 epochs), this made both local
schemes worse (periodic 0.904 -> 0.878, random 0.891 -> 0.871): their gap is not a rate deficit, so
the shipped cards leave it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from neuromorph.contrastive import models
from neuromorph.contrastive.card import ContrastiveCard
from neuromorph.contrastive.data import Dataset
from neuromorph.contrastive.phases import phase_signal, predicted_kappa, predicted_kappa_periodic
from neuromorph.errors import ConfigError, NonFiniteError
from neuromorph.plasticity.contrastive import classical_update, local_update


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


@torch.no_grad()
def accuracy(net: models.NetSpec, params: dict, x: torch.Tensor, y: torch.Tensor, eval_steps: int) -> float:
    average = eval_steps // 2 if net.model == "spiking" else 0
    out = models.predict(net, params, x, eval_steps, average_last=average)
    return float((out.argmax(1) == y.argmax(1)).double().mean())


def local_kappa(card: ContrastiveCard, scheme: str) -> float:
    r"""The predicted transient shrinkage κ of ``scheme`` (THEORY.md §3.2), with the relaxation time
    :math:`\tau/dt` in steps: periodic phases of ``steps/2`` each, or telegraph phases with the card's
    mean dwell times; 1 for classical."""
    tau_steps = card.network.tau / card.network.dt
    if scheme == "classical":
        return 1.0
    if scheme == "periodic":
        return float(predicted_kappa_periodic(tau_steps, card.phases.steps // 2))
    if card.phases.random != "telegraph":
        raise ConfigError(f"{card.path}: [train] kappa_lr needs [phases] random = \"telegraph\" (κ is predicted "
                          f"for periodic and telegraph phases only)")
    return predicted_kappa(tau_steps, card.phases.mean_plus, card.phases.mean_minus)


def _phases(card: ContrastiveCard, scheme: str, n_steps: int, gen: np.random.Generator) -> tuple[np.ndarray, float]:
    """The phase sequence over the whole run and its occupancy p+ (classical uses the periodic one)."""
    process = card.periodic() if scheme != "random" else card.random_process()
    return process.sample(n_steps, gen), process.p_plus


@torch.no_grad()
def train_scheme(card: ContrastiveCard, data: Dataset, scheme: str, seed: int, *, progress: bool = False,
                 record_raster: bool = False, dtype: torch.dtype = torch.float32) -> Curve:
    """Train one network from the seed's initial weights with ``scheme``; see the module docstring."""
    net = card.net_spec(data.n_in, data.n_out)
    t = card.train
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng([seed, 1])
    params = models.init_params(net, gen, card.network.init_scale, dtype)
    x_train, y_train = data.x_train.to(dtype), data.y_train.to(dtype)
    n_batches = -(-len(x_train) // t.batch_size)
    steps = card.phases.steps
    half = steps // 2
    phases, p_plus = _phases(card, scheme, t.epochs * n_batches * steps, rng)
    signal = phase_signal(phases, p_plus)
    lr_step = 2.0 * t.lr / steps * net.scale / (local_kappa(card, scheme) if t.kappa_lr else 1.0)
    evaluate = lambda: (accuracy(net, params, x_train, y_train, t.eval_steps),
                        accuracy(net, params, data.x_test.to(dtype), data.y_test.to(dtype), t.eval_steps))
    accs = [evaluate()]
    state = models.initial_state(net, t.batch_size, dtype)
    raster: dict[str, list] = {"phase": [], "signal": [], "rate_out": [], "weight": []}
    k = 0
    gbar = {n: torch.zeros_like(v) for n, v in params.items()}  # the per-synapse baseline trace
    for epoch in tqdm(range(t.epochs), desc=f"{card.task.name} {scheme} seed {seed}", disable=not progress,
                      leave=False):
        order = torch.randperm(len(x_train), generator=gen)
        decay = 1.0 - epoch / t.epochs if t.lr_decay else 1.0
        for b in range(n_batches):
            idx = order[b * t.batch_size:(b + 1) * t.batch_size]
            if len(idx) < t.batch_size:  # keep the batch size fixed: the state is carried over
                idx = torch.cat([idx, order[:t.batch_size - len(idx)]])
            x, y = x_train[idx], y_train[idx]
            if card.phases.reset:
                state = models.initial_state(net, t.batch_size, dtype)
            if card.phases.burn_in:  # free relaxation to the new input with the plasticity off (s_t = 0)
                state = models.relax(net, params, x, y, False, card.phases.burn_in, state)
            if scheme == "classical":
                state = models.relax(net, params, x, y, False, half, state)
                g_minus = models.hebbian(net, x, state)
                state = models.relax(net, params, x, y, True, half, state)
                classical_update(params, models.hebbian(net, x, state), g_minus, decay * t.lr * net.scale)
                k += steps
                continue
            for _ in range(steps):
                state = models.step(net, params, state, x, y, bool(phases[k]))
                g = models.hebbian(net, x, state)
                if t.baseline_steps and scheme == "random":  # occupancy noise exists only with random phases
                    for n in g:
                        g[n], gbar[n] = g[n] - gbar[n], gbar[n] + (g[n] - gbar[n]) / t.baseline_steps
                local_update(params, g, float(signal[k]), decay * lr_step)
                if record_raster and epoch == 0:
                    raster["phase"].append(bool(phases[k]))
                    raster["signal"].append(float(signal[k]))
                    raster["rate_out"].append(models.rates(net, state)[1][0].cpu().numpy())
                    raster["weight"].append(params["w2"][0, :4].cpu().numpy().copy())
                k += 1
        if not all(torch.isfinite(v).all() for v in params.values()):
            raise NonFiniteError(f"{card.path}: {scheme} seed {seed} diverged in epoch {epoch}; lower [train] lr")
        accs.append(evaluate())
    acc = np.array(accs)
    return Curve(scheme, seed, acc[:, 0], acc[:, 1], {n: v.cpu().numpy() for n, v in params.items()},
                 {n: np.asarray(v) for n, v in raster.items()} if record_raster and raster["phase"] else None)
