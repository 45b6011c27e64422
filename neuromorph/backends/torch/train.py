r"""Training one batch of sequences in the torch backend: one online loop for every rule, and backend forms.

How a rule runs is looked up, never branched on its type:

* an **online** rule runs :func:`online_sequence`: per step the rule's teaching (:meth:`Rule.teach`: a
  nudge or a clamp, in the batch's phases), the network step, the output error
  :math:`\delta^t`, the rule's third factor, :meth:`Rule.step`, and at the end of each update window
  :meth:`Rule.gradients` → ``apply``. Without ``record`` it keeps memory independent of T;
* a rule that asks for its **factored** form (``rule.factored``) runs a no-grad forward pass and
  the exact end-of-sequence update of :data:`~neuromorph.backends.torch.factored.FACTORED`;
* an **offline** rule (``temporal = offline``) runs its form in :data:`OFFLINE` (BPTT: autograd
  through the same step; classical contrastive learning: the online loop over its stored free phase).

Updates go through ``apply(grads)``, so the caller owns the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from neuromorph.backends.base import (
    ApplyFn,
    Lowered,
    NetworkState,
    SequenceResult,
    check_inputs,
    check_training,
    masked_mean,
)
from neuromorph.backends.torch.bptt import bptt_sequence
from neuromorph.backends.torch import compiled_eprop
from neuromorph.backends.torch.compiled import at_rest, compiled_forward
from neuromorph.backends.torch.compiled_online import compiled_online
from neuromorph.backends.torch.factored import FACTORED, Forward
from neuromorph.errors import ConfigError
from neuromorph.network import Parameters
from neuromorph.plasticity import BPTT, Rule, StepSignals, Temporal
from neuromorph.plasticity.contrastive import ClassicalContrastive
from neuromorph.plasticity.losses import loss_value, output_error
from neuromorph.types import LossKind, TrialBatch


class _Totals:
    """Loss, spikes and the masked output sum accumulated step by step (the online loop)."""

    def __init__(self, low: Lowered, batch: TrialBatch) -> None:
        on = {"dtype": low.dtype, "device": low.device}  # on the device: adding a step never synchronises
        self.loss = torch.zeros((), **on)
        self.spikes = torch.zeros((), **on)
        self.out = torch.zeros(batch.batch_size, low.spec.n_out, **on)
        self.mask = torch.zeros(batch.batch_size, **on)

    def add(self, kind: LossKind, y: torch.Tensor, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        self.loss += loss_value(kind, y.unsqueeze(0), target.unsqueeze(0), mask.unsqueeze(0))
        self.spikes += z.sum()
        self.out += mask.unsqueeze(1) * y
        self.mask += mask


@torch.no_grad()
def online_sequence(
    low: Lowered, params: Parameters, feedback: torch.Tensor, rule: Rule, kind: LossKind, batch: TrialBatch,
    apply: ApplyFn, state: NetworkState, record: bool, generator: torch.Generator | None = None,
    carry: dict | None = None,
) -> SequenceResult:
    """Any online rule, step by step (module docstring); updates every ``rule.update_interval`` steps. With
    ``train.engine = "compiled"``, online e-prop runs compiled where it can (:mod:`.compiled_online`)."""
    result = compiled_online(low, params, feedback, rule, kind, batch, apply, state, record)
    if result is not None:
        return result
    ctx = low.context(batch.batch_size, generator, carry)
    rs, totals = rule.initial(ctx), _Totals(low, batch)
    interval, n_steps = rule.update_interval or batch.n_steps, batch.n_steps
    psi_prev = torch.zeros(batch.batch_size, low.spec.n_rec, dtype=low.dtype, device=low.device)
    kept: dict[str, list] = {"z": [], "y": []}
    for t in range(n_steps):
        z_prev, phase = state.neuron.z, batch.phase_at(t)
        teach = rule.teach(z_prev, batch.targets[t], phase, params, ctx)
        z, psi, state = low.step(params, state, batch.inputs[t], teach=teach)
        totals.add(kind, state.y, z, batch.targets[t], batch.mask[t])
        delta = output_error(kind, state.y, batch.targets[t], batch.mask[t])
        sig = StepSignals(batch.inputs[t], z_prev, z, psi, psi_prev, state.y, delta,
                          rule.third_factor(delta, params, feedback), params, batch.targets[t], batch.mask[t], phase)
        rs = rule.step(rs, sig, ctx)
        psi_prev = psi
        if record:
            for key, value in {"z": z, "y": state.y, **rule.observe(rs, sig, ctx)}.items():
                kept.setdefault(key, []).append(value)
        if (t + 1) % interval == 0 or t == n_steps - 1:
            grads, rs = rule.gradients(rs, ctx)
            apply(grads)
    stacked = {k: torch.stack(v) for k, v in kept.items() if v}
    mean_output = totals.out / totals.mask.clamp(min=1).unsqueeze(1)
    return _result(totals.loss, totals.spikes, mean_output, stacked, record)._replace(final=state)


@torch.no_grad()
def forward_pass(low: Lowered, params: Parameters, inputs: torch.Tensor, state: NetworkState) -> Forward:
    """The no-grad forward pass a factored form starts from."""
    keep: dict[str, list] = {k: [] for k in Forward._fields}
    for x_t in inputs:
        keep["z_prev"].append(state.neuron.z)
        z, psi, state = low.step(params, state, x_t)
        keep["z"].append(z)
        keep["psi"].append(psi)
        keep["y"].append(state.y)
    return Forward(inputs, *(torch.stack(keep[k]) for k in Forward._fields[1:]))


def _forward(low: Lowered, params: Parameters, inputs: torch.Tensor, state: NetworkState) -> Forward:
    """The compiled forward pass where ``train.engine = "compiled"`` has one (:func:`.compiled.compiled_forward`),
    else the torch loop."""
    run = compiled_forward(low, params, inputs, state)
    if run is None:
        return forward_pass(low, params, inputs, state)
    return Forward(inputs, run.z_prev, run.z, run.psi, run.y)


@torch.no_grad()
def factored_sequence(
    low: Lowered, params: Parameters, feedback: torch.Tensor, rule: Rule, kind: LossKind, batch: TrialBatch,
    apply: ApplyFn, state: NetworkState, record: bool, generator: torch.Generator | None = None,
    carry: dict | None = None,
) -> SequenceResult:
    """A rule's registered factored form after a forward pass; one update at the end of the sequence.

    Where the compiled engine runs factored e-prop in two passes (:mod:`.compiled_eprop`), that is the update
    whether the iteration is recorded or not; a recorded one also runs the matrix-product form for the per-step
    factors it stores (its forward is the same compiled step, so the recording is the trained sequence's).
    """
    form = FACTORED.get(type(rule))
    if form is None:
        raise ConfigError(f"rule {rule.name!r} has no factored form in the torch backend; set rule.mode = \"online\"")
    ctx = low.context(batch.batch_size, generator, carry)
    two_pass = compiled_eprop.available(low, rule) and at_rest(state)
    if two_pass:  # the update from two compiled passes, with no per-step history
        grads, y, count = compiled_eprop.eprop_sequence(
            low, params, feedback, rule, lambda y: output_error(kind, y, batch.targets, batch.mask), batch.inputs, ctx)
    if not two_pass or record:  # the per-step factors (recorded), from the same compiled forward where it ran
        fw = _forward(low, params, batch.inputs, state)
        delta = output_error(kind, fw.y, batch.targets, batch.mask)
        form_grads, observed = form(rule, fw, delta, rule.third_factor(delta, params, feedback), ctx, params)
        stacked = {"z": fw.z, "y": fw.y, **observed}
        if not two_pass:
            grads, y, count = form_grads, fw.y, fw.z.sum((0, 1))
    apply(grads)  # a recorded iteration applies the same update as any other
    loss = loss_value(kind, y, batch.targets, batch.mask)
    return _result(loss, count.sum(), masked_mean(y, batch.mask), stacked if record else {}, record)


def _result(loss, spikes, mean_output, stacked: dict[str, torch.Tensor], record: bool) -> SequenceResult:
    """The sequence's result; the rule's named state of batch element 0 when recorded."""
    if not record:
        return SequenceResult(float(loss), float(spikes), mean_output, None, None, {})
    rule_state = {k: v[:, 0] for k, v in stacked.items() if k not in ("z", "y")}
    return SequenceResult(float(loss), float(spikes), mean_output, stacked["y"], stacked["z"], rule_state)


#: Offline rules' forms in this backend. Classical contrastive learning is offline (it stores the free phase's
#: term until the update) and written as an online rule over that stored state, so the online loop runs it.
OFFLINE: dict[type, Callable[..., SequenceResult]] = {BPTT: bptt_sequence, ClassicalContrastive: online_sequence}


def train_sequence(
    low: Lowered,
    params: Parameters,
    feedback: torch.Tensor,
    rule: Rule,
    kind: LossKind,
    batch: TrialBatch,
    apply: ApplyFn,
    initial_state: NetworkState | None = None,
    record: bool = False,
    generator: torch.Generator | None = None,
    carry: dict | None = None,
) -> SequenceResult:
    """Run ``batch`` through the network, learning with ``rule``; updates go through ``apply``.

    ``initial_state`` (default: all zeros) sets the neuron and readout state at the first
    step; eligibility traces always start at zero, since the initial state does not depend
    on the weights. ``record`` returns the outputs, spikes and the rule's per-neuron
    state of every step; without it, online rules run in memory independent of T.
    ``generator`` is handed to rules that draw random numbers (a stochastic policy); ``carry`` holds
    the rule's state across sequences (:class:`~neuromorph.plasticity.RuleContext`), a fresh dict if None.
    """
    check_inputs(low.spec, batch.inputs)
    check_training(low, rule, params)
    if rule.phased and batch.phase is None:
        raise ConfigError(f"rule {rule.name!r} learns in phases and this task's batches carry none (TrialBatch.phase); "
                          "train it with `neuromorph contrastive train`, whose curriculum gives every step its phase")
    state = low.initial_state(batch.batch_size) if initial_state is None else initial_state
    carry = {} if carry is None else carry
    if rule.temporal is Temporal.OFFLINE:
        form = OFFLINE.get(type(rule))
        if form is None:
            raise ConfigError(f"rule {rule.name!r} is offline and the torch backend has no form for it")
        return form(low, params, feedback, rule, kind, batch, apply, state, record, generator, carry)
    if not rule.factored and type(rule).initial is Rule.initial:
        raise ConfigError(f"rule {rule.name!r} ({type(rule).__name__}) defines no online form (Rule.initial, step, "
                          "gradients) and no torch backend form; see docs/extending.md")
    run = factored_sequence if rule.factored else online_sequence
    return run(low, params, feedback, rule, kind, batch, apply, state, record, generator, carry)
