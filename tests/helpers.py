"""Shared test helpers: small random networks and the autograd oracle."""

from __future__ import annotations

import torch

from neuromorph.backends.torch import differentiable_run, lower, train_sequence
from neuromorph.dynamics import ALIFParameters, LIFParameters, ReadoutParameters
from neuromorph.network import InitSpec, NetworkSpec, Parameters, init_parameters
from neuromorph.plasticity import Target
from neuromorph.plasticity.losses import RateRegularization, loss_value
from neuromorph.tasks.base import LossKind, TrialBatch

ALL_TARGETS = frozenset(Target)


def small_spec(adaptive: bool, *, scaled: bool = False, t_ref: float = 0.0, n_in=6, n_rec=8, n_out=2) -> NetworkSpec:
    """A network that spikes a fair amount within 30 steps."""
    common = dict(tau_mem=20e-3, v_th=0.5, t_ref=t_ref, input_scaling=scaled)
    neuron = (
        ALIFParameters(**common, tau_adapt=0.2, beta=tuple(0.3 * (i % 2) + 0.1 for i in range(n_rec)))
        if adaptive
        else LIFParameters(**common)
    )
    return NetworkSpec(n_in, n_rec, n_out, neuron, ReadoutParameters(tau_out=15e-3, output_scaling=scaled), dt=1e-3)


def random_problem(spec: NetworkSpec, kind: LossKind, *, seed=0, n_steps=30, batch=3, gain=2.0):
    """Random float64 parameters, feedback and a batch with Bernoulli input spikes."""
    g = torch.Generator().manual_seed(seed)
    scale = 3.0 if getattr(spec.neuron, "input_scaling", False) else 1.0
    params, feedback = init_parameters(spec, InitSpec(w_in_gain=gain * scale * 4, w_rec_gain=gain * scale), g, torch.float64)
    params = params._replace(bias=0.05 * torch.randn(spec.n_rec, generator=g, dtype=torch.float64),
                             b_out=0.1 * torch.randn(spec.n_out, generator=g, dtype=torch.float64))
    inputs = (torch.rand(n_steps, batch, spec.n_in, generator=g, dtype=torch.float64) < 0.3).double()
    mask = (torch.rand(n_steps, batch, generator=g, dtype=torch.float64) < 0.8).double()
    if kind is LossKind.REGRESSION:
        targets = torch.randn(n_steps, batch, spec.n_out, generator=g, dtype=torch.float64)
    else:
        targets = torch.randint(0, spec.n_out, (n_steps, batch), generator=g)
    return params, feedback, TrialBatch(inputs, targets, mask)


def oracle_gradients(
    spec: NetworkSpec,
    params: Parameters,
    batch: TrialBatch,
    kind: LossKind,
    reg: RateRegularization,
    *,
    stop_recurrent: bool,
) -> dict[Target, torch.Tensor]:
    """Autograd of E + E_reg, with the recurrent spikes detached when ``stop_recurrent``."""
    leaves = Parameters(*(p.detach().clone().requires_grad_(True) for p in params))
    y, z = differentiable_run(lower(spec, torch.float64), leaves, batch.inputs, stop_recurrent=stop_recurrent)
    loss = loss_value(kind, y, batch.targets, batch.mask) + reg.value(z, spec.dt)
    grads = torch.autograd.grad(loss, list(leaves))
    return {Target(name): g for name, g in zip(Parameters._fields, grads)}


def rule_gradients(spec: NetworkSpec, params: Parameters, feedback, batch: TrialBatch, kind: LossKind, rule):
    """The updates ``rule`` hands to its optimizer for one batch, in float64, keyed by target."""
    captured: dict[Target, torch.Tensor] = {}
    train_sequence(lower(spec, torch.float64), params, feedback, rule, kind, batch, captured.update)
    return captured


def max_rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-300))


def interrupt_at(monkeypatch, iteration: int) -> None:
    """Make :func:`neuromorph.experiment.train` raise KeyboardInterrupt when it starts ``iteration``
    (as a Ctrl-C there would); ``monkeypatch.undo()`` restores it."""
    from neuromorph import experiment

    real = experiment._iteration

    def crash(spec, run):
        if run.iteration == iteration:
            raise KeyboardInterrupt
        return real(spec, run)

    monkeypatch.setattr(experiment, "_iteration", crash)


#: The literature's three contrastive variants in the card schema: (``[network.neuron]``, ``[rule]``) tables.
CONTRASTIVE_VARIANTS = {
    "ep": ({"model": "energy_rate"}, {"teaching": "nudge"}),
    "chl": ({"model": "energy_rate"}, {"teaching": "clamp"}),
    "spiking": ({"model": "filtered_lif"}, {"teaching": "nudge"}),
}


def contrastive_table(model: str = "ep", *, network=None, neuron=None, rule=None, phases=None, train=None,
                      task=None) -> dict:
    """A contrastive card table of a variant (XOR unless ``task`` is given): ``network`` keys, the variant's unit
    plus ``neuron`` keys, its teaching plus ``rule`` keys, and the study section ``[contrastive]`` of ``train``
    keys with ``[contrastive.phases]``."""
    unit, teaching = CONTRASTIVE_VARIANTS[model]
    return {"task": task or {"name": "xor"}, "network": {**(network or {}), "neuron": {**unit, **(neuron or {})}},
            "rule": {**teaching, **(rule or {})}, "contrastive": {**(train or {}), "phases": dict(phases or {})}}


def contrastive_variant(card, model: str):
    """``card`` (a ContrastiveCard of rate units) switched to the EP or CHL variant."""
    import dataclasses

    teaching = CONTRASTIVE_VARIANTS[model][1]["teaching"]
    return dataclasses.replace(card, rule=dataclasses.replace(card.rule, teaching=teaching))
