r"""Contrastive learning (EP, CHL, the spiking variant) run whole in brian2: the brian2 form of a curriculum.

:func:`train_curriculum` executes a :class:`~neuromorph.backends.base.Curriculum`, the schedule the
torch path runs presentation by presentation through :meth:`neuromorph.engine.Session.step`, as
**one** brian2 run (one run of the compiled binary in cpp_standalone): the network dynamics and the
plasticity are simulated by brian2 (:mod:`.contrastive_network`, :mod:`.contrastive_equations`),
and the curriculum's presentations and evaluations are laid out as per-step ``TimedArray`` s by
:func:`timeline`. The rules' brian2 forms are registered by exact class in :data:`RULE_STEPS`: what
each one writes per step (the rule's factor ``FAC`` of the Hebbian term, the classical rule's
stored free phase ``STORE``, the baseline flag ``BL``):

* :class:`~neuromorph.plasticity.contrastive.Contrastive`: :math:`\mathrm{FAC}_t = -c\,s_t` on every
  step with a phase (Williams, Bredenberg & Lajoie 2023, arXiv:2302.12431);
* :class:`~neuromorph.plasticity.contrastive.ClassicalContrastive`: ``STORE`` at the last free step,
  :math:`\mathrm{FAC} = -c` at the last step.

The network must be the layered network of :func:`neuromorph.network.layered` with units of
:mod:`neuromorph.dynamics.energy`; anything else is refused before the build. On divergence the
result says after how many evaluations a weight was first found non-finite (at the start of each
evaluation), as the torch path does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from neuromorph.backends.base import Curriculum, CurriculumResult, Lowered
from neuromorph.backends.brian2.contrastive_equations import UNIT_KINDS, Layered
from neuromorph.backends.brian2.contrastive_network import STEP_ARRAYS, ContrastiveNetwork, Shape
from neuromorph.dynamics.energy import rho_inverse
from neuromorph.errors import ConfigError
from neuromorph.network import Parameters, layered, layers
from neuromorph.plasticity.contrastive import ClassicalContrastive, Contrastive

DTYPE = torch.float64  #: brian2 computes in float64

#: per-step writes of a rule's form: ``steps(rule, phase) -> {array: values}`` for one presentation's phases
StepWrites = Callable[[object, tuple[float, ...]], dict[str, np.ndarray]]


def _local_steps(rule: Contrastive, phase: tuple[float, ...]) -> dict[str, np.ndarray]:
    on = np.array([p != 0 for p in phase], dtype=float)
    fac = np.array([-rule.scale * rule.signal(p) if p else 0.0 for p in phase])
    return {"FAC": fac, "BL": on * float(bool(rule.baseline_steps)), "LRON": on}


def _classical_steps(rule: ClassicalContrastive, phase: tuple[float, ...]) -> dict[str, np.ndarray]:
    n = len(phase)
    store, fac, last_free = np.zeros(n), np.zeros(n), max((t for t, p in enumerate(phase) if p < 0), default=None)
    if last_free is not None and phase[-1] > 0:
        store[last_free], fac[-1] = 1.0, -rule.scale
    lr_on = np.zeros(n)
    lr_on[-1] = 1.0
    return {"FAC": fac, "STORE": store, "LRON": lr_on}


#: brian2 forms of the contrastive rules, by exact class.
RULE_STEPS: dict[type, StepWrites] = {Contrastive: _local_steps, ClassicalContrastive: _classical_steps}


def layered_network(low: Lowered, rule, params: Parameters) -> Layered:
    """The :class:`Layered` description of ``low`` trained by ``rule``; refuse what this lowering cannot run."""
    spec = low.spec
    if type(rule) not in RULE_STEPS:
        raise ConfigError(f"the brian2 curriculum form runs the contrastive rules only, not {type(rule).__name__}")
    if type(spec.neuron) not in UNIT_KINDS:
        raise ConfigError(f"the brian2 contrastive lowering has no code for neuron {type(spec.neuron).describe()}; "
                          f"it lowers {sorted(k.model for k in UNIT_KINDS)}")
    n_h = spec.n_rec - spec.n_out
    if n_h < 1 or not all(torch.equal(a, b) for a, b in zip(params, layered(**layers(params, n_h)))):
        raise ConfigError("the brian2 contrastive lowering needs the layered network of neuromorph.network.layered "
                          "(input -> hidden <-> output, symmetric coupling, the outputs as the readout)")
    return Layered(spec.n_in, n_h, spec.n_out, spec.neuron, spec.dt, rule.teaching, rule.beta)


def shape_of(net: Layered, c: Curriculum) -> Shape:
    """The build's shape; every presentation must show one batch size for one length."""
    lengths = {len(p.phase) for p in c.presentations}
    batches = {len(p.samples) for p in c.presentations}
    if len(lengths) > 1 or len(batches) > 1:
        raise ConfigError(f"the brian2 contrastive lowering runs presentations of one length and batch size, got "
                          f"lengths {sorted(lengths)} and batch sizes {sorted(batches)}")
    batch = batches.pop() if batches else max(len(c.eval_samples), 1)
    return Shape(net, batch, len(c.x), lengths.pop() if lengths else 1, len(c.presentations), len(c.evaluate_after),
                 c.eval_steps, len(c.eval_samples), c.eval_average, (c.watch[0] - net.n_hidden, c.watch[1]))


def timeline(shape: Shape, c: Curriculum, rule) -> dict[str, np.ndarray]:
    """``SAMPLE`` and the per-step arrays of the whole run (:mod:`.contrastive_network`)."""
    a = {name: np.zeros(shape.n_steps) for name in STEP_ARRAYS}
    sample = np.zeros((shape.n_steps // shape.block, shape.batch))
    writes, pos = RULE_STEPS[type(rule)], 0
    evals = set(c.evaluate_after)

    def show(idx, steps: int) -> None:
        sample[pos // shape.block:(pos + steps) // shape.block] = idx

    def evaluation() -> None:  # the evaluation samples, from rest, plasticity off
        nonlocal pos
        a["SAVE"][pos] = 1.0
        for chunk in range(shape.eval_chunks):
            rows = np.arange(chunk * shape.batch, (chunk + 1) * shape.batch) % shape.n_eval  # padded with repeats
            show(c.eval_samples.numpy()[rows], c.eval_steps)
            a["RST"][pos] = 1.0
            a["AVG"][pos + c.eval_steps - c.eval_average:pos + c.eval_steps] = 1.0
            a["EVAL"][pos + c.eval_steps - 1] = 1.0
            pos += c.eval_steps
        if pos < shape.n_steps:  # the training state comes back at the next presentation
            a["LOAD"][pos] = 1.0

    if 0 in evals:
        evaluation()
    for i, p in enumerate(c.presentations):
        n = len(p.phase)
        show(p.samples.numpy(), n)
        a["RST"][pos] = max(a["RST"][pos], float(p.reset))
        step = slice(pos, pos + n)
        a["PHI"][step] = [float(ph > 0) for ph in p.phase]
        a["REC"][step] = [float(p.record and ph != 0) for ph in p.phase]
        for name, values in writes(rule, p.phase).items():
            if name == "LRON":
                a["LR"][step] = p.lr * values
            else:
                a[name][step] = values
        pos += n
        if i + 1 in evals:
            evaluation()
    return {"SAMPLE": sample, **a}


def data_tables(net: Layered, c: Curriculum, rule) -> dict[str, np.ndarray]:
    """``DATA`` (the inputs of the samples) and ``TGT``: targets (nudge) or the clamped states
    :math:`\\rho^{-1}(t_c)` (clamp), by the torch expressions."""
    y = c.y.to(DTYPE)
    if net.teaching == "clamp":
        y = rho_inverse(y * (1 - 2 * rule.clamp_margin) + rule.clamp_margin)
    return {"DATA": c.x.to(DTYPE).numpy(), "TGT": y.numpy()}


def run_curriculum(network: ContrastiveNetwork, low: Lowered, params: Parameters, rule,
                   c: Curriculum) -> CurriculumResult:
    """Run ``c`` on a built ``network`` from ``params``; see the module docstring."""
    net = network.shape.net
    arrays = timeline(network.shape, c, rule)
    start = {k: v.detach().to(DTYPE).numpy() for k, v in layers(params, net.n_hidden).items()}
    network.run(start, {**arrays, **data_tables(net, c, rule)})
    outputs = torch.as_tensor(network.eval_rates()[:, :len(c.eval_samples)], dtype=low.dtype)
    final = {k: torch.as_tensor(v, dtype=low.dtype) for k, v in network.final_weights().items()}
    bad = network.first_nonfinite_step()
    diverged = None if bad is None else int(np.searchsorted(np.flatnonzero(arrays["SAVE"]), bad, side="right")) - 1
    raster = {}
    if any(p.record for p in c.presentations):
        rate_out, weight = network.raster()
        raster = {"y": torch.as_tensor(rate_out, dtype=low.dtype), "weight": torch.as_tensor(weight, dtype=low.dtype)}
    return CurriculumResult(outputs, layered(**final), raster, diverged)
