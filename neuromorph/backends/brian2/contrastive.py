r"""Temporally local contrastive learning (EP, CHL) trained inside brian2, with torch's draws.

:class:`ContrastiveBrian2` is :func:`neuromorph.contrastive.train.train_scheme` with the network
dynamics *and* the plasticity simulated by brian2 (:mod:`.contrastive_network`,
:mod:`.contrastive_equations`): the three schemes of :mod:`neuromorph.contrastive.train`

* classical: :math:`\Delta\theta = \eta c\,[g(a_+) - g(a_-)]` once per presentation, :math:`g(a_-)`
  stored inside brian2 at the end of the free half;
* periodic and random: :math:`\theta_{t+1} = \theta_t + \eta_\mathrm{step} s_t\, g(a_t)` at every step
  (Williams, Bredenberg & Lajoie 2023, arXiv:2302.12431; THEORY.md §3.2), with the random scheme's
  baseline trace :math:`\bar g` (``[train] baseline_steps``),

with the learning-rate decay, the state reset or carry-over and the burn-in of the card. Python
only draws what torch draws, in the same order and from the same generators (initial weights,
minibatch permutations, the phase process), and writes them into the run's ``TimedArray`` s;
the whole training of one (scheme, seed) is then one brian2 run (one run of the compiled binary
in cpp_standalone).

**Evaluation** runs in brian2 too, inside the same run: before training and after every epoch the
training state is set aside and the batch copies relax freely from rest (``eval_steps`` steps,
:func:`neuromorph.contrastive.models.predict`) on every training and test sample, *B* at a time;
the accuracy is the fraction whose largest output rate is the target's class, as in
:func:`neuromorph.contrastive.train.accuracy`. As in torch, a non-finite weight at the end of an
epoch (an event in the weight groups) raises :class:`~neuromorph.errors.NonFiniteError` naming it.

All three models are lowered: the rate models ``ep`` and ``chl`` and the ``spiking`` LIF variant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuromorph.backends.brian2.contrastive_network import STEP_ARRAYS, ContrastiveNetwork, Shape
from neuromorph.backends.brian2.support import check_target
from neuromorph.contrastive import models
from neuromorph.contrastive.card import ContrastiveCard
from neuromorph.contrastive.data import Dataset
from neuromorph.contrastive.phases import phase_signal
from neuromorph.contrastive.train import Curve, _phases, local_kappa
from neuromorph.errors import NonFiniteError

DTYPE = torch.float64  #: brian2 computes in float64


def check_contrastive(card: ContrastiveCard, target: str) -> None:
    """Raise for what this lowering cannot run (every model, scheme and phase process of a card runs)."""
    check_target(target)


@dataclass(frozen=True)
class Schedule:
    """Everything one (scheme, seed) run draws, as brian2 arrays (see :mod:`.contrastive_network`)."""

    params: dict[str, np.ndarray]  #: initial weights
    arrays: dict[str, np.ndarray]  #: SAMPLE and the per-step arrays
    phases: np.ndarray  #: the first epoch's phases (raster)
    signal: np.ndarray


def shape_of(card: ContrastiveCard, data: Dataset) -> Shape:
    t, p = card.train, card.phases
    n_batches = -(-len(data.x_train) // t.batch_size)
    n_eval = len(data.x_train) + len(data.x_test)
    return Shape(card.net_spec(data.n_in, data.n_out), t.batch_size, n_eval, p.burn_in + p.steps,
                 t.epochs * n_batches, t.epochs, t.eval_steps, n_eval)


def schedule(card: ContrastiveCard, data: Dataset, scheme: str, seed: int, record_raster: bool = False) -> Schedule:
    """The draws of :func:`~neuromorph.contrastive.train.train_scheme` for ``(scheme, seed)``, laid out per step."""
    shape = shape_of(card, data)
    net, t, B = shape.net, card.train, card.train.batch_size
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng([seed, 1])
    params = models.init_params(net, gen, card.network.init_scale, DTYPE)
    n, steps, burn, L = len(data.x_train), card.phases.steps, card.phases.burn_in, shape.presentation
    half, n_batches = steps // 2, shape.n_presentations // t.epochs
    phases, p_plus = _phases(card, scheme, t.epochs * n_batches * steps, rng)
    signal = phase_signal(phases, p_plus)
    lr_step = 2.0 * t.lr / steps * net.scale / (local_kappa(card, scheme) if t.kappa_lr else 1.0)
    a = {name: np.zeros(shape.n_steps) for name in STEP_ARRAYS}
    sample = np.zeros((shape.n_steps // shape.block, B))
    baseline = bool(t.baseline_steps) and scheme == "random"
    average = max(t.eval_steps // 2, 1) if net.model == "spiking" else 1  # as train.accuracy
    pos = 0  # the segment's first step

    def show(idx, steps: int) -> None:
        sample[pos // shape.block:(pos + steps) // shape.block] = idx

    def evaluation() -> None:  # every training and test sample, from rest, plasticity off
        nonlocal pos
        a["SAVE"][pos] = 1.0
        for c in range(shape.eval_chunks):
            idx = np.arange(c * B, (c + 1) * B) % shape.n_eval  # the last chunk is padded with repeats
            show(idx, t.eval_steps)
            a["RST"][pos] = 1.0
            a["AVG"][pos + t.eval_steps - average:pos + t.eval_steps] = 1.0
            a["EVAL"][pos + t.eval_steps - 1] = 1.0
            pos += t.eval_steps

    evaluation()
    for epoch in range(t.epochs):
        order = torch.randperm(n, generator=gen)
        decay = 1.0 - epoch / t.epochs if t.lr_decay else 1.0
        a["LOAD"][pos] = 1.0
        for b in range(n_batches):
            idx = order[b * B:(b + 1) * B]
            if len(idx) < B:  # as torch: the batch size stays fixed
                idx = torch.cat([idx, order[:B - len(idx)]])
            p = epoch * n_batches + b
            show(idx.numpy(), L)
            start, first = pos, pos + burn  # presentation start, first phase step
            pos += L
            a["RST"][start] = float(card.phases.reset)
            if scheme == "classical":
                a["PHI"][first + half:start + L] = 1.0
                a["STORE"][first + half - 1] = 1.0
                a["ETA"][start + L - 1] = decay * t.lr * net.scale
                continue
            k = slice(p * steps, (p + 1) * steps)
            a["PHI"][first:start + L] = phases[k]
            a["ETA"][first:start + L] = (decay * lr_step) * signal[k]
            a["BL"][first:start + L] = float(baseline)
            a["REC"][first:start + L] = float(record_raster and epoch == 0)
        evaluation()
    first_epoch = n_batches * steps
    return Schedule({k: v.numpy() for k, v in params.items()}, {"SAMPLE": sample, **a}, phases[:first_epoch],
                    signal[:first_epoch])


def data_tables(net: models.NetSpec, data: Dataset) -> dict[str, np.ndarray]:
    """``DATA`` (inputs per sample: training, then test) and ``TGT``: targets (EP) or the clamped states
    :math:`\\rho^{-1}(t_c)` (CHL)."""
    x = torch.cat([data.x_train, data.x_test]).to(DTYPE)
    y = torch.cat([data.y_train, data.y_test]).to(DTYPE)
    if net.model == "chl":  # the clamp of models.step, computed by the same torch expressions
        y = models.rho_inverse(y * (1 - 2 * net.clamp_margin) + net.clamp_margin)
    return {"DATA": x.numpy(), "TGT": y.numpy()}


class ContrastiveBrian2:
    """Trains contrastive cards in brian2 on ``target``; one build (and compile) per card shape.

    Only one cpp_standalone build exists per process at a time (brian2's device is global).
    """

    def __init__(self, target: str = "numpy", directory: str | os.PathLike[str] | None = None) -> None:
        check_target(target)
        self.target = target
        self.directory = Path(directory) if directory is not None else None
        self._built: dict[tuple, ContrastiveNetwork] = {}
        self.build_seconds = 0.0
        self.run_seconds = 0.0

    def network(self, card: ContrastiveCard, data: Dataset) -> ContrastiveNetwork:
        import time

        key = (shape_of(card, data), card.train.baseline_steps)
        if key not in self._built:
            self.close()
            start = time.perf_counter()
            directory = self.directory / f"build{len(self._built)}" if self.directory is not None else None
            self._built = {key: ContrastiveNetwork(key[0], self.target, directory, key[1])}
            self.build_seconds += time.perf_counter() - start
        return self._built[key]

    def close(self) -> None:
        for net in self._built.values():
            net.close()
        self._built.clear()

    @torch.no_grad()
    def train_scheme(self, card: ContrastiveCard, data: Dataset, scheme: str, seed: int, *,
                     record_raster: bool = False) -> Curve:
        """:func:`neuromorph.contrastive.train.train_scheme` (float64) simulated by brian2."""
        import time

        check_contrastive(card, self.target)
        network = self.network(card, data)
        net = network.shape.net
        plan = schedule(card, data, scheme, seed, record_raster)
        start = time.perf_counter()
        network.run(plan.params, {**plan.arrays, **data_tables(net, data)})
        self.run_seconds += time.perf_counter() - start
        rates = network.eval_rates()  # (epochs + 1, padded samples, n_out)
        labels = torch.cat([data.y_train, data.y_test]).argmax(1).numpy()
        n_train = len(data.x_train)
        bad = network.first_nonfinite_step()
        if bad is not None:  # the epoch whose end it was: the evaluation at SAVE number e + 1 follows epoch e
            epoch = int(np.searchsorted(np.flatnonzero(plan.arrays["SAVE"]), bad, side="right")) - 2
            raise NonFiniteError(f"{card.path}: {scheme} seed {seed} diverged in epoch {epoch}; lower [train] lr")
        accs = []
        for r in rates:
            correct = (r[:len(labels)].argmax(1) == labels).astype(float)
            accs.append((correct[:n_train].mean(), correct[n_train:].mean()))
        acc = np.array(accs)
        raster = None
        if record_raster and scheme != "classical":
            rate_out, weight = network.raster()
            raster = {"phase": plan.phases.astype(bool), "signal": plan.signal.astype(float), "rate_out": rate_out,
                      "weight": weight}
        return Curve(scheme, seed, acc[:, 0], acc[:, 1], network.final_weights(), raster)
