r"""Training one batch of sequences in the torch backend.

A lowering table maps each rule type to the loop that runs it. e-prop and RFLO run a
no-grad forward loop that advances the presynaptic traces beside the network
(:mod:`neuromorph.plasticity.traces`) and either keeps per-synapse eligibility
state (online mode) or stacks per-neuron factors and computes the exact
end-of-sequence update with matrix products (factored mode). BPTT runs the same
step under autograd. Updates go through ``apply(grads)`` at the end of each
update window, so the caller owns the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from neuromorph.backends.torch.simulate import Lowered, NetworkState, check_inputs, differentiable_run
from neuromorph.errors import ConfigError
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import Parameters
from neuromorph.plasticity import BPTT, RFLO, EProp, Feedback, Mode, Target
from neuromorph.plasticity.eprop_factored import SequenceFactors, factored_gradients
from neuromorph.plasticity.eprop_online import online_gradients, online_init, online_step
from neuromorph.plasticity.losses import loss_value, output_error
from neuromorph.plasticity.rflo import fixed_decay, jacobian_decay, rflo_factored_gradients, rflo_online_step
from neuromorph.plasticity.traces import PreTraces, TraceConstants, pre_trace_step, zero_traces
from neuromorph.types import LossKind, TrialBatch

ApplyFn = Callable[[dict[Target, torch.Tensor]], None]


class SequenceResult(NamedTuple):
    """Loss (task loss, before the update), spike count, decision, and what was recorded."""

    loss: float
    spike_count: float  #: spikes summed over batch, time and neurons
    mean_output: torch.Tensor  #: (B, n_out) readout averaged over the masked steps (the decision)
    y: torch.Tensor | None  #: (T, B, n_out), when recorded
    z: torch.Tensor | None  #: (T, B, n_rec), when recorded
    rule_state: dict[str, torch.Tensor]  #: named on-chip state of batch element 0, time-major, when recorded


def feedback_matrix(rule: EProp | RFLO, params: Parameters, feedback: torch.Tensor) -> torch.Tensor:
    """:math:`B` (n_rec, n_out): :math:`W^{\\mathrm{out}\\top}` for symmetric feedback, else ``feedback``."""
    return params.w_out.T if rule.feedback is Feedback.SYMMETRIC else feedback


def masked_mean(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Readout averaged over the masked steps: (T, B, n_out) → (B, n_out)."""
    return (y * mask.unsqueeze(-1)).sum(0) / mask.sum(0).clamp(min=1).unsqueeze(-1)


_FACTORS = ("pre_in", "pre_rec", "pre_bias", "psi", "out_trace", "out_bias_trace")


def chip_traces(chip: ChipNumerics, tr: PreTraces, c: TraceConstants) -> PreTraces:
    """The traces on the chip's trace grid: hidden-layer traces step s_in/impulse, readout traces s_out/impulse."""
    return PreTraces(*(chip.project_trace(x, scale) for x, scale in zip(tr, (c.s_in, c.s_in, c.s_in, c.s_out, c.s_out))))


def check_rule(low: Lowered, rule: EProp | RFLO) -> None:
    """Setup checks of a three-factor rule against the network, shared by every backend."""
    if isinstance(rule, RFLO) and low.consts.adaptive:
        raise ConfigError("rflo is defined for LIF and rate neurons; use rule.name = \"eprop\" for ALIF")


@torch.no_grad()
def _train_three_factor(
    low: Lowered, params: Parameters, feedback: torch.Tensor, rule: EProp | RFLO, kind: LossKind,
    batch: TrialBatch, apply: ApplyFn, state: NetworkState, record: bool,
) -> SequenceResult:
    """e-prop and RFLO. Online mode without ``record`` keeps O(1) memory in T; factored mode stores O(T) factors.

    e-prop's eligibility is post factor × presynaptic trace; RFLO's trace decays with the
    postsynaptic neuron, so its factored form keeps the raw presynaptic activity instead.
    """
    check_rule(low, rule)
    spec, c = low.spec, low.consts
    rflo = isinstance(rule, RFLO)
    online = rule.mode is Mode.ONLINE
    keep = record or not online
    n_steps, n_batch = batch.n_steps, batch.batch_size
    tr = zero_traces(n_batch, spec.n_in, spec.n_rec, low.dtype)
    ost = online_init(rule.targets, tr, spec.n_out, c.adaptive, synaptic_trace=rflo) if online else None
    decay = fixed_decay(rule, c, spec.n_rec, low.dtype) if rflo else None
    interval = rule.update_interval or n_steps
    steps: dict[str, list] = {k: [] for k in (*_FACTORS, "z", "y", "learning", "delta", "x", "z_prev", "decay")}
    loss, spikes = torch.zeros((), dtype=low.dtype), torch.zeros((), dtype=low.dtype)
    out_sum, mask_sum = torch.zeros(n_batch, spec.n_out, dtype=low.dtype), torch.zeros(n_batch, dtype=low.dtype)
    psi_prev = torch.zeros(n_batch, spec.n_rec, dtype=low.dtype)
    for t in range(n_steps):
        z_prev = state.neuron.z
        z, psi, state = low.step(params, state, batch.inputs[t])
        tr = pre_trace_step(tr, c, batch.inputs[t], z_prev, z)
        if low.chip is not None:
            tr = chip_traces(low.chip, tr, c)
        d_t = jacobian_decay(c, params.w_rec, psi_prev) if rflo and decay is None else decay
        psi_prev = psi
        if keep:
            values = (tr.inp, tr.rec, tr.bias, psi, tr.out, tr.out_bias, z, state.y)
            for key, value in zip((*_FACTORS, "z", "y"), values):
                steps[key].append(value)
            if rflo:
                steps["x"].append(batch.inputs[t])
                steps["z_prev"].append(z_prev)
                steps["decay"].append(d_t.expand(n_batch, spec.n_rec))
        if online:
            target_t, mask_t = batch.targets[t], batch.mask[t]
            loss += loss_value(kind, state.y.unsqueeze(0), target_t.unsqueeze(0), mask_t.unsqueeze(0))
            spikes += z.sum()
            out_sum += mask_t.unsqueeze(1) * state.y
            mask_sum += mask_t
            delta = output_error(kind, state.y, target_t, mask_t)
            learning = delta @ feedback_matrix(rule, params, feedback).T
            if record:
                steps["learning"].append(learning)
                steps["delta"].append(delta)
            if rflo:
                pres = {Target.W_IN: batch.inputs[t], Target.W_REC: z_prev, Target.BIAS: tr.bias.new_ones(n_batch, 1)}
                ost = rflo_online_step(ost, c, pres, d_t, psi, tr, z, learning, delta)
            else:
                ost = online_step(ost, c, tr, psi, z, learning, delta)
            if (t + 1) % interval == 0 or t == n_steps - 1:
                grads, ost = online_gradients(ost, rule.regularization, spec.dt)
                apply(grads)
    stacked = {k: torch.stack(v) for k, v in steps.items() if v}
    if online:
        mean_output = out_sum / mask_sum.clamp(min=1).unsqueeze(1)
    else:
        y, z = stacked["y"], stacked["z"]
        loss, spikes, mean_output = loss_value(kind, y, batch.targets, batch.mask), z.sum(), masked_mean(y, batch.mask)
        stacked["delta"] = output_error(kind, y, batch.targets, batch.mask)
        stacked["learning"] = stacked["delta"] @ feedback_matrix(rule, params, feedback).T
        factors = SequenceFactors(**{k: stacked[k] for k in _FACTORS}, learning=stacked["learning"],
                                  delta=stacked["delta"], spike_count=z.sum((0, 1)))
        if rflo:
            raw = factors._replace(pre_in=stacked["x"], pre_rec=stacked["z_prev"],
                                   pre_bias=torch.ones_like(factors.pre_bias))
            apply(rflo_factored_gradients(raw, stacked["decay"], c, rule.regularization, spec.dt, rule.targets))
        else:
            apply(factored_gradients(factors, c, rule.regularization, spec.dt, rule.targets))
    rule_state = {}
    if record:
        rule_state = {
            "pre_trace_in": stacked["pre_in"][:, 0],
            "pre_trace_rec": stacked["pre_rec"][:, 0],
            "post_term": stacked["psi"][:, 0],
            "learning_signal": stacked["learning"][:, 0],
            "output_error": stacked["delta"][:, 0],
        }
        if rflo:  # RFLO's trace is per synapse (decay d_j); the neuron's presynaptic traces are not its state
            del rule_state["pre_trace_in"], rule_state["pre_trace_rec"]
            rule_state["trace_decay"] = stacked["decay"][:, 0]
    return SequenceResult(float(loss), float(spikes), mean_output, stacked.get("y") if record else None,
                          stacked.get("z") if record else None, rule_state)


def _train_bptt(  # always records: autograd keeps the whole history anyway
    low: Lowered, params: Parameters, feedback: torch.Tensor, rule: BPTT, kind: LossKind, batch: TrialBatch,
    apply: ApplyFn, state: NetworkState, record: bool,
) -> SequenceResult:
    targets = sorted(rule.targets, key=lambda t: t.value)
    leaves = {t.value: getattr(params, t.value).detach().requires_grad_(True) for t in targets}
    with torch.enable_grad():
        y, z = differentiable_run(low, params._replace(**leaves), batch.inputs, truncation=rule.truncation, state=state)
        task_loss = loss_value(kind, y, batch.targets, batch.mask)
        total = task_loss + rule.regularization.value(z, low.spec.dt)
        grads = torch.autograd.grad(total, list(leaves.values()))
    apply(dict(zip(targets, grads)))
    y, z = y.detach(), z.detach()
    return SequenceResult(float(task_loss.detach()), float(z.sum()), masked_mean(y, batch.mask), y, z, {})


_RULES: dict[type, Callable[..., SequenceResult]] = {
    EProp: _train_three_factor,
    RFLO: _train_three_factor,
    BPTT: _train_bptt,
}


def train_sequence(
    low: Lowered,
    params: Parameters,
    feedback: torch.Tensor,
    rule: EProp | RFLO | BPTT,
    kind: LossKind,
    batch: TrialBatch,
    apply: ApplyFn,
    initial_state: NetworkState | None = None,
    record: bool = False,
) -> SequenceResult:
    """Run ``batch`` through the network, learning with ``rule``; updates go through ``apply``.

    ``initial_state`` (default: all zeros) sets the neuron and readout state at the first
    step; eligibility traces always start at zero, since the initial state does not depend
    on the weights. ``record`` returns the outputs, spikes and the rule's per-neuron
    state of every step; without it, online e-prop runs in memory independent of T.
    """
    check_inputs(low.spec, batch.inputs)
    if Target.THRESHOLD in rule.targets:
        if not low.spec.spiking:
            raise ConfigError("rate units have no threshold: drop 'threshold' from rule.targets (learn 'bias')")
        if params.threshold is None:
            raise ConfigError("rule.targets has 'threshold' but params.threshold is None; pass zeros of shape (n_rec,)")
    state = low.initial_state(batch.batch_size) if initial_state is None else initial_state
    return _RULES[type(rule)](low, params, feedback, rule, kind, batch, apply, state, record)
