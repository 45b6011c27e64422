"""The setup check: can this rule, network and optimiser run on this chip, and what gets quantised?

:func:`assess` compares what a rule declares (:attr:`Rule.reads`, ``targets``, ``temporal``)
with what a profile provides (docs/hardware.md), before any simulation runs:

1. no on-chip plasticity → only ``mode="offline"`` (train on the host, deploy quantised);
2. an offline rule (reads ``history``) on a chip that keeps traces only → rejected;
3. every read: its scope must be one the chip lets a synapse read, the signal must exist there
   (software engines can compute any signal at an allowed scope), and a signed value cannot go
   through an unsigned trace unless the rule splits it into a positive and a negative part;
4. targets: a bias on a chip that cannot learn biases is mapped to a bias synapse, or rejected;
5. the update period must be a learning epoch the chip supports; the optimiser must be one it runs;
6. the neuron model and the network's size must fit.

Each problem becomes a :class:`Finding` that names the signal, its scope, the allowed scopes and
the fix; :meth:`Report.raise_if_rejected` raises the first as :class:`LocalityError` (or
:class:`HardwareProfileError` for non-locality limits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neuromorph.dynamics import NEURONS
from neuromorph.errors import HardwareProfileError, LocalityError
from neuromorph.hardware.profile import HardwareProfile, load_profile, profile_names
from neuromorph.hardware.quantize import snap_mantissa_exponent
from neuromorph.plasticity.base import Read, Scope, Signal, Target, Temporal

#: rule signal -> profile signal that provides it (None: only its scope matters)
PROVIDED_BY: dict[Signal, str | None] = {
    Signal.PRE_SPIKE: "pre_spike",
    Signal.PRE_TRACE: "pre_trace",
    Signal.POST_STATE: "post_state",
    Signal.POST_TRACE: "post_trace",
    Signal.PSEUDO_DERIVATIVE: "pseudo_derivative",
    Signal.LEARNING_SIGNAL: "third_factor",
    Signal.OUTPUT_ERROR: "third_factor",
    Signal.BROADCAST_SIGNAL: "global_signal",
    Signal.WEIGHTS_TRANSPOSED: None,
    Signal.ELIGIBILITY: None,  # the plasticity.eligibility_store
}
_SOFTWARE = ("general_purpose", "embedded_processor")
_FIXES = {
    Signal.WEIGHTS_TRANSPOSED: 'use rule.feedback = "random" or "adaptive" (fixed or locally adapted feedback weights)',
    Signal.PSEUDO_DERIVATIVE: "pick a profile whose neurons can compute the pseudo-derivative (loihi2 microcode, "
                              "spinnaker2, brainscales2)",
    Signal.BROADCAST_SIGNAL: 'set rule.delivery = "post" (send the phase signal into every neuron as a per-neuron '
                             'third factor, e.g. graded spikes into each post neuron; add rule.split_signed = true '
                             'where that factor is unsigned), or pick a profile whose rules may read scope \'chip\' '
                             '(brainscales2, ideal)',
}
LEVELS = ("ok", "quantised", "mapped", "warning", "rejected")


def _fix(signal: Signal, rule, default: str) -> str:
    """The fix hint for a rejected read of ``signal``: a key the rule's own card has (``post_state`` is read
    for different reasons by different rules)."""
    if signal is not Signal.POST_STATE:
        return _FIXES.get(signal, default)
    other = "pick a profile whose learning can read the neuron's state"
    if getattr(getattr(rule, "regularization", None), "strength", 0) > 0:  # e-prop's firing-rate regulariser
        return f"set rule.regularization.strength = 0, or {other}"
    if getattr(rule, "decay", None) == "jacobian":  # RFLO's autapse term
        return f'set rule.decay = "leak" (or a number), or {other}'
    if getattr(rule, "spiking", None) is False:  # temporally local contrastive learning on rate units
        return f'use spiking units (network.neuron.model = "filtered_lif": the rule reads a post trace), or {other}'
    return other


@dataclass(frozen=True)
class Finding:
    """One line of the check: ``level`` is one of :data:`LEVELS`."""

    level: str
    topic: str
    message: str
    error: type[Exception] = LocalityError


@dataclass
class Report:
    """Everything :func:`assess` found for one (profile, mode, rule, network)."""

    profile: str
    mode: str
    findings: list[Finding] = field(default_factory=list)
    lr: float | None = None  #: the learning rate snapped to the chip's format (on-chip mode)

    def add(self, level: str, topic: str, message: str, error: type[Exception] = LocalityError) -> None:
        self.findings.append(Finding(level, topic, message, error))

    @property
    def rejections(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "rejected"]

    @property
    def ok(self) -> bool:
        return not self.rejections

    def raise_if_rejected(self) -> None:
        if self.rejections:
            first = self.rejections[0]
            more = len(self.rejections) - 1
            tail = f" (and {more} more problem{'s' * (more > 1)}: run `neuromorph check` for all)" if more else ""
            raise first.error(first.message + tail)

    def format(self) -> str:
        width = max((len(f.topic) for f in self.findings), default=5)
        lines = [f"profile {self.profile!r}, mode {self.mode!r}"]
        lines += [f"  {f.level:<9} {f.topic:<{width}}  {f.message}" for f in self.findings]
        lines.append("  => " + ("runs" if self.ok else f"rejected ({len(self.rejections)} problem(s))"))
        return "\n".join(lines)


def assess(profile: HardwareProfile, mode: str, rule, network, optimizer, n_steps: int) -> Report:
    """Check ``rule`` on ``network`` (a :class:`NetworkSpec`) under ``profile``; see the module docstring."""
    report = Report(profile.id, mode)
    _deployment(report, profile, network)
    if mode == "on_chip":
        _on_chip(report, profile, rule, network, optimizer, n_steps)
    return report


# ------------------------------------------------------------------------------------- deployment


def _deployment(report: Report, p: HardwareProfile, net) -> None:
    model = type(net.neuron).__dict__.get("model", "") or type(net.neuron).describe()
    supported = set(p.models) | (set(NEURONS) if "programmable" in p.models else set())  # microcode runs any family
    if model not in supported and not (model == "lif" and supported & {"lif_2syn", "adex"}):
        report.add("rejected", "neuron", f"profile {p.id!r} runs {list(p.models)} neurons, not {model!r} "
                   f"({p.src('neuron.models')}); pick network.neuron.model from those, or another profile",
                   HardwareProfileError)
    rounded = p.state.format == "int" or (p.state.format == "float32" and net.neuron.spiking)
    if rounded and not type(net.neuron).stated("membrane_update"):
        if not net.neuron.spiking:
            what, fix = "rate units need a float state", "ideal, spinnaker2"
        else:
            what, fix = (f"neuron {type(net.neuron).describe()} states no membrane update the chip's arithmetic can "
                         "replace (Neuron.membrane_update)", "ideal")
        report.add("rejected", "neuron", f"{what}; {p.id!r} has a {p.state.format} membrane "
                   f"(such networks run under {fix})", HardwareProfileError)
    for key, have, what in (("inputs_max", net.n_in, "inputs"), ("outputs_max", net.n_out, "outputs"),
                            ("neurons_total", net.n_rec, "recurrent neurons"),
                            ("fan_in_max", net.n_in + net.n_rec, "synapses per neuron (n_in + n_rec)")):
        limit = p.limits.get(key, math.nan)
        if math.isfinite(limit) and have > limit:
            report.add("rejected", "size", f"the network has {have} {what}; {p.id!r} allows {int(limit)} "
                       f"([limits] {key}: {p.src('limits.' + key)}); shrink the task or the network",
                       HardwareProfileError)
    s = p.state
    if s.format == "int":
        decay = "Loihi mul-shift" if s.decay == "mul_shift" else "bit-shift"
        report.add("quantised", "membrane", f"{s.bits}-bit + sign integer, {s.overflow}, {decay} decay, "
                   f"v_th = {s.threshold_lsb} LSB, reset to {s.reset} ({p.src('neuron.state_bits')})")
    elif s.format == "float32":
        report.add("quantised", "membrane", f"float32 ({p.src('neuron.state_format')})")
    elif s.format == "analog":
        report.add("warning", "membrane", f"analog: simulated exactly; mismatch and noise are not modelled "
                   f"({p.src('neuron.state_format')})")
    if s.reset == "zero" and p.state.format != "float64":
        report.add("quantised", "reset", f"reset to zero, as on the chip ({p.src('neuron.reset')}); the model "
                   "card's subtractive reset is replaced")
    w = p.weights
    if w.format == "int":
        report.add("quantised", "weights", f"{w.bits}-bit{' + sign' if w.signed else ' unsigned'}, one exponent per "
                   f"matrix in {list(w.exp_range)} ({p.src('synapse.weight_bits')})")
    elif w.format == "analog":
        report.add("quantised", "weights", f"{w.bits}-bit analog{' (signed by row pairs)' if w.signed else ''}, "
                   f"a gain per matrix ({p.src('synapse.weight_bits')})")
    t = p.traces.get("pre")
    if t is not None and t.format == "int":
        report.add("quantised", "traces", f"{t.bits}-bit {'signed' if t.signed else 'unsigned'}, impulse "
                   f"{t.impulse}, {t.rounding} decay ({p.src('traces.pre.bits')})")
    elif t is not None and t.format == "float32":
        report.add("quantised", "traces", f"float32 ({p.src('traces.pre.format')})")


# ------------------------------------------------------------------------------------- on-chip learning


def _on_chip(report: Report, p: HardwareProfile, rule, net, optimizer, n_steps: int) -> None:
    if not p.plasticity.on_chip:
        report.add("rejected", "plasticity", f"profile {p.id!r} has no on-chip plasticity "
                   f"({p.src('plasticity.on_chip')}); rule {rule.name!r} can only run with mode 'offline' "
                   f"(--mode offline: train on the host, then deploy with {p.id}'s weight and state limits)",
                   HardwareProfileError)
        return
    loc = p.locality
    if rule.temporal is Temporal.OFFLINE and loc.temporal != "any":
        report.add("rejected", "history", f"rule {rule.name!r} reads 'history' at scope 'host' (temporal = "
                   f"offline: it needs the network's stored past states); profile {p.id!r} lets on-chip rules "
                   f"keep traces only (temporal = {loc.temporal!r}, history_steps = {loc.history_steps:g}); fix: "
                   "use an online rule (rule.name = \"eprop\") or train on the host with --mode offline")
        return  # its other reads and its update schedule are moot on this chip
    for read in sorted(rule.reads, key=lambda r: r.signal.value):
        if read.signal is not Signal.HISTORY:
            _read(report, p, rule, read, net)
    _targets(report, p, rule)
    _epoch(report, p, rule, n_steps)
    _optimizer(report, p, optimizer)


def _read(report: Report, p: HardwareProfile, rule, read: Read, net) -> None:
    loc, name, scope = p.locality, read.signal.value, read.scope.value
    if read.signal is Signal.ELIGIBILITY:
        _eligibility(report, p, rule, net, per_neuron=read.scope is Scope.POST)
        return
    if scope not in loc.allowed_scopes:
        others = [n for n in profile_names() if n != p.id and _allows(n, scope)]
        fix = _fix(read.signal, rule, f"pick a profile whose rules may read scope {scope!r} ({', '.join(others)})")
        report.add("rejected", name, f"rule {rule.name!r} reads {name!r} at scope {scope!r}; profile {p.id!r} lets "
                   f"a synapse read only {list(loc.allowed_scopes)} ({p.src('locality.allowed_scopes')}); fix: {fix}")
        return
    provided = PROVIDED_BY[read.signal]
    signal = loc.signals.get(provided) if provided else None
    if signal is None:
        if p.plasticity.engine in _SOFTWARE or provided is None:
            report.add("ok", name, f"computed in software at scope {scope!r} ({p.plasticity.engine} engine)")
            return
        listed = ", ".join(sorted(loc.signals)) or "none"
        fix = _fix(read.signal, rule, "pick a profile that provides it")
        report.add("rejected", name, f"rule {rule.name!r} reads {name!r} at scope {scope!r}; profile {p.id!r} has no "
                   f"{provided!r} signal (its {p.plasticity.engine} engine reads: {listed}); fix: {fix}")
        return
    where = f"as {provided!r} at scope {signal.scope!r}" + (f" via {signal.via}" if signal.via else "")
    if read.signed and signal.signed is False:
        split = hasattr(rule, "split_signed")
        fix = ("set rule.split_signed = true: a positive and a negative rule, each reading one unsigned trace, as "
               "nengo-loihi does for PES" if split and signal.count >= 2 else
               f"the chip has {signal.count:g} such trace(s) per neuron, too few to split a signed signal")
        report.add("rejected", name, f"rule {rule.name!r} reads a signed {name!r} at scope {scope!r}; profile "
                   f"{p.id!r} provides it {where}, unsigned ({signal.bits:g} bits; {p.src('locality.signals.' + provided)}); "
                   f"fix: {fix}")
        return
    if read.count > signal.count and signal.signed is False:
        report.add("rejected", name, f"rule {rule.name!r} needs {read.count} {provided!r} values per neuron (a "
                   f"split signed signal); profile {p.id!r} has {signal.count:g}; fix: pick a profile with two")
        return
    bits = f", {signal.bits:g} bits" if math.isfinite(signal.bits) else ""
    split = ""
    if read.count > 1:
        split = " (split into positive and negative parts)" if signal.signed is False else \
            " (signed on this chip: the split is not needed, and runs as one signed value)"
    report.add("ok", name, f"{where}{bits}{split}")


def _eligibility(report: Report, p: HardwareProfile, rule, net, per_neuron: bool = False) -> None:
    """``per_neuron``: bias-only tuning, whose eligibility is one trace per neuron (pre = 1)."""
    store = p.plasticity.eligibility
    signed = net.neuron.signed_eligibility or getattr(rule, "decay", None) == "jacobian"
    why = "ALIF's -beta*epsilon term" if net.neuron.adaptive else "signed rates or decays"
    if signed and store.get("signed") is False:
        report.add("rejected", "eligibility", f"rule {rule.name!r} keeps a signed eligibility per synapse ({why}); "
                   f"profile {p.id!r} stores it unsigned ({p.src('plasticity.eligibility_store')}); fix: use LIF "
                   "neurons (their eligibility psi*P is non-negative) or a profile with a signed store (loihi2 tag)")
        return
    bits = store.get("bits", math.nan)
    per = "neuron (bias only: pre = 1, one trace per neuron)" if per_neuron else store.get('per', 'synapse')
    report.add("ok", "eligibility", f"per {per}"
               + (f" in {store['var']!r}" if "var" in store else "")
               + (f", {bits:g} bits" if isinstance(bits, (int, float)) and math.isfinite(bits) else "")
               + (" (signed)" if signed else " (non-negative for LIF)"))


def _targets(report: Report, p: HardwareProfile, rule) -> None:
    pl = p.plasticity
    weights = {Target.W_IN, Target.W_REC, Target.W_OUT} & set(rule.targets)
    if weights and "weight" not in pl.targets:
        report.add("rejected", "targets", f"profile {p.id!r} cannot learn weights on chip", HardwareProfileError)
    if Target.BIAS in rule.targets:
        if pl.bias_learning == "native":
            report.add("ok", "bias", f"learned directly ({p.src('plasticity.bias_learning')})")
        elif pl.bias_learning == "bias_synapse":
            report.add("mapped", "bias", f"{p.id!r} cannot learn biases ({p.src('plasticity.bias_learning')}); each "
                       "bias becomes a plastic synapse from an always-on input neuron, with the weight format")
        else:
            report.add("rejected", "bias", f"profile {p.id!r} cannot learn biases on chip "
                       f"(bias_learning = {pl.bias_learning!r}); fix: drop 'bias' from rule.targets",
                       HardwareProfileError)
    if Target.THRESHOLD in rule.targets:
        if "neuron_params" in pl.targets:
            report.add("ok", "threshold", f"learned as a neuron parameter ({p.src('plasticity.targets')})")
        else:
            report.add("rejected", "threshold", f"profile {p.id!r} learns only {list(pl.targets)} on chip, not neuron "
                       f"parameters ({p.src('plasticity.targets')}); fix: learn 'bias' instead of 'threshold' "
                       "(one trace per neuron too)", HardwareProfileError)


def _epoch(report: Report, p: HardwareProfile, rule, n_steps: int) -> None:
    lo, hi = p.plasticity.update_period
    every = getattr(rule, "update_interval", None) or n_steps
    how = f"every {every} steps" + ("" if getattr(rule, "update_interval", None) else " (once per sequence)")
    if not lo <= every <= hi:
        suggest = max(lo, min(int(hi) if math.isfinite(hi) else every, 50))
        report.add("rejected", "epoch", f"rule {rule.name!r} updates {how}; profile {p.id!r} applies updates every "
                   f"{lo}..{hi:g} steps ({p.src('plasticity.update_period_steps')}); fix: rule.mode = \"online\" "
                   f"and rule.update_interval = {suggest}", HardwareProfileError)
    else:
        report.add("ok", "epoch", f"updates {how}, within {lo}..{hi:g}")


def _optimizer(report: Report, p: HardwareProfile, optimizer) -> None:
    name = optimizer.name.value
    if name not in p.plasticity.optimizers:
        report.add("rejected", "optimizer", f"{name!r} needs state the chip does not keep; profile {p.id!r} runs "
                   f"{list(p.plasticity.optimizers)} ({p.src('plasticity.optimizers')}); fix: optimizer.name = "
                   f"\"{p.plasticity.optimizers[0]}\" (and a larger optimizer.lr)", HardwareProfileError)
    kind = p.plasticity.lr_kind
    if kind == "mant_exp":
        lr, m, e = snap_mantissa_exponent(optimizer.lr, p.plasticity.lr_mant_bits)
        rel = abs(lr - optimizer.lr) / optimizer.lr
        report.add("quantised", "lr", f"{optimizer.lr:g} -> {m}*2^{e} = {lr:.6g} (relative error {rel:.2%}; "
                   f"{p.plasticity.lr_mant_bits}-bit mantissa, {p.src('plasticity.lr_format')})")
    elif kind == "float32":
        lr = float(np.float32(optimizer.lr))
        rel = abs(lr - optimizer.lr) / optimizer.lr
        report.add("quantised", "lr", f"float32: {lr:.9g} (relative error {rel:.1e})")
    else:
        lr = optimizer.lr
    report.lr = lr
    pl = p.plasticity
    if pl.rounding != "none":
        acc = f", accumulated in {pl.accumulator_bits:g} bits" if math.isfinite(pl.accumulator_bits) else ""
        report.add("quantised", "updates", f"{pl.rounding} rounding to the weight grid{acc} "
                   f"({p.src('plasticity.rounding')})")


def _allows(profile_id: str, scope: str) -> bool:
    try:
        return scope in load_profile(profile_id).locality.allowed_scopes
    except HardwareProfileError:
        return False
