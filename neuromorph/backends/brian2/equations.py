r"""Brian2 code for one network step, generated from the parameter objects the torch step uses.

Every quantity of :mod:`neuromorph.dynamics` and :mod:`neuromorph.plasticity` becomes a brian2
variable, and one torch step becomes one brian2 time step, in this order (``when="groups"``,
``order`` below; Bellec et al. 2020, Methods):

=====  ===================================== ===============================================
order  object                                update
=====  ===================================== ===============================================
10     ``S_in``, ``S_rec`` (summed)           :math:`I^\mathrm{in}_j = \sum_i W^\mathrm{in}_{ji} x_i^t`,
                                              :math:`I^\mathrm{rec}_j = \sum_i W^\mathrm{rec}_{ji} z_i^{t-1}`
20     hidden group, input group              the neuron family (:mod:`.neurons`), presynaptic traces
30     ``S_out`` (summed)                     :math:`I^\mathrm{out}_k = \sum_j W^\mathrm{out}_{kj} z_j^t`
40     readout group                          :math:`y^t = \kappa y^{t-1} + s_\mathrm{out}(I^\mathrm{out} + b^\mathrm{out})`
45     ``S_soft`` (summed, classification)    :math:`\sum_k e^{y_k}`
50     readout group                          output error :math:`\delta^t` (:mod:`.losses`)
60     ``S_fb`` (summed)                      learning signal :math:`L_j^t = \sum_k B_{jk}\delta_k^t`
70     synapses, hidden, readout              e-prop or RFLO eligibility, window accumulators
=====  ===================================== ===============================================

so the spikes :math:`z^t` are computed from :math:`z^{t-1}` exactly as in
:meth:`neuromorph.backends.torch.simulate.Lowered.step`, and the eligibility of step *t* sees the
traces and learning signal of step *t*, as in :func:`neuromorph.plasticity.eprop_online.online_step`.
A hardware profile's integer membrane and trace grids (:mod:`neuromorph.hardware.numerics`) are
lowered to the same integer operations (:mod:`.functions`: rounding ties to even like ``torch.round``).
The network disables brian2's algebraic rewriting of these expressions and the C++ compiler's
``-ffast-math``, so a brian2 step evaluates the same floating-point expressions as a torch step.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from neuromorph.dynamics import Filter, Neuron
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec
from neuromorph.plasticity.traces import TraceConstants

if TYPE_CHECKING:
    from neuromorph.backends.brian2.neurons import NeuronCode
    from neuromorph.backends.brian2.rules import RuleCode

#: Scheduling order of each stage inside brian2's ``groups`` slot (see the module docstring).
ORDER = {"drive": 10, "neuron": 20, "readout_drive": 30, "readout": 40, "softmax": 45, "error": 50,
         "learning": 60, "eligibility": 70}


def _num(x: float) -> str:
    """A float literal that round-trips exactly (brian2 parses ``repr``)."""
    return repr(float(x))


def round_code(x: str) -> str:
    """Round half to even, as ``torch.round`` (:mod:`.functions`)."""
    return f"nm_round({x})"


@dataclass(frozen=True)
class Constants:
    """What the generated code needs: the numbers of the torch lowering and the two code entries.

    ``c`` is the neuron's stated eligibility (``low.consts``: decays, scales, :math:`\beta`);
    ``family`` the neuron family's code (:data:`.neurons.NEURON_CODE`); ``rule`` the rule's code
    (:data:`.rules.RULE_CODE`; ``None`` for a forward simulation) and ``extras`` its layout extras
    (RFLO's decay).
    """

    c: TraceConstants
    spec: NetworkSpec
    chip: ChipNumerics | None
    family: NeuronCode
    rule: RuleCode | None = None
    extras: Hashable = None

    @property
    def neuron(self) -> Neuron:
        return self.spec.neuron

    @property
    def membrane(self) -> Filter:
        """The membrane update :math:`(\alpha, s)` as the neuron states it (``membrane_update``)."""
        return self.spec.neuron.membrane_update(self.spec.dt)


# ------------------------------------------------------------------------------------------ variables
#: Hidden-group state every family shares (the rule's per-neuron eligibility included).
HIDDEN = ("v", "z", "zp", "r", "psi", "bias", "theta", "P_rec", "P_b", "Zk", "L",
          "ebar_b", "epsa_b", "acc_b", "acce_b", "ebar_th", "epsa_th", "acc_th", "acce_th", "thr", "kv",
          "dj", "wdiag", "E_b")


def inner_names(k: Constants, name: str) -> list[str]:
    """The inner-stage traces of the trace ``name`` (one per filter stage before the membrane's)."""
    return [f"{name}_s{m}" for m in range(len(k.c.inner))]


def hidden_variables(k: Constants) -> str:
    """State of a hidden neuron: the shared names, the family's own, and the inner-stage traces."""
    names = [*HIDDEN, *k.family.variables, *inner_names(k, "P_rec"), *inner_names(k, "P_b")]
    return "\n".join(f"{n} : 1" for n in names) + "\nI_in : 1\nI_rec : 1"


def input_variables(k: Constants) -> str:
    """An input channel: its value from the ``X`` TimedArray and its presynaptic trace (with inner stages)."""
    return "\n".join(["x = X(t, i) : 1", "P : 1", *(f"{n} : 1" for n in inner_names(k, "P"))])


def readout_variables(classification: bool) -> str:
    """A readout: output, bias, output-bias trace, target, mask, error and bias accumulator."""
    target = "onehot = Ystar(t, i) : 1" if classification else "ystar = Ystar(t, i) : 1"
    lines = ["y : 1", "b_out : 1", "Pob : 1", "delta : 1", "acc_bo : 1", "I_out : 1", target, "m = M(t, i) : 1"]
    if classification:
        lines.append("sumexp : 1")
    return "\n".join(lines)


def synapse_variables(k: Constants, summed: str | None, plastic: bool) -> str:
    """A synapse: weight and, when plastic, filtered eligibility, the two accumulators and the rule's own state."""
    names = ["w"] + (["ebar", "acc", "acce", *k.rule.synapse_state(k)] if plastic else [])
    return "\n".join([f"{n} : 1" for n in names] + ([summed] if summed else []))


# ------------------------------------------------------------------------------------------ per step
def trace_code(name: str, decay: float, scale: float, drive: str, k: Constants, impulse_scale: float) -> str:
    r""":math:`F \leftarrow a F + s u`, then on a chip's trace grid :math:`\Delta = s_\mathrm{imp}/\mathrm{impulse}`."""
    code = f"{name} = {_num(decay)}*{name} + {_num(scale)}*({drive})"
    g = k.chip.traces if k.chip is not None else None
    if g is None:
        return code
    step = impulse_scale / g.impulse
    lo, hi = (-(2**g.bits - 1) if g.signed else 0), 2**g.bits - 1
    return code + f"\n{name} = clip({round_code(f'{name}/{_num(step)}')}, {lo}, {hi})*{_num(step)}"


def membrane_code(k: Constants, drive: str = "(I_in + I_rec + bias)", update: Filter | None = None) -> str:
    r"""The membrane update of :func:`neuromorph.dynamics.lif.exact_membrane` or the chip's integer one.

    Exact: :math:`v = \alpha v + s I - v_\mathrm{th} z^{t-1}`, :math:`(\alpha, s)` the neuron's
    ``membrane_update`` unless ``update`` is given, :math:`I` the ``drive``. Integer
    (:meth:`neuromorph.hardware.numerics.ChipNumerics.membrane`): :math:`k = R(v/\Delta_v)`, the chip's
    decay :math:`D(k)`, reset, :math:`k \mathrel{+}= R(sI/\Delta_v)`, saturate or wrap, :math:`v = k\Delta_v`.
    """
    alpha, scale = update if update is not None else k.membrane
    v_th = k.neuron.v_th
    g = k.chip.state if k.chip is not None else None
    if g is None or (g.kind == "exact" and g.reset == "subtract"):
        return f"v = {_num(alpha)}*v + {_num(scale)}*{drive} - {_num(v_th)}*zp"
    if g.kind == "exact":
        return f"v = {_num(alpha)}*v*(1 - zp) + {_num(scale)}*{drive}"
    step = v_th / g.threshold_lsb
    return "\n".join([
        f"kv = {round_code(f'v/{_num(step)}')}",
        f"kv = {_integer_decay(g)}",
        f"kv = {'kv*(1 - zp)' if g.reset == 'zero' else f'kv - {g.threshold_lsb}*zp'}",
        f"kv = kv + {round_code(f'{_num(scale)}*{drive}/{_num(step)}')}",
        f"kv = {_integer_bound(g)}",
        f"v = kv*{_num(step)}",
    ])


def _integer_decay(g) -> str:
    r"""The chip's decay of the integer membrane: multiply-shift :math:`\mathrm{sgn}(k)\lfloor |k|c\rfloor` or bit-shift."""
    if g.decay == "mul_shift":
        return f"nm_trunc(kv*{2**g.decay_bits - g.decay_const}/{2**g.decay_bits})"
    return f"kv - nm_floor(kv/{2**g.decay_const})"


def _integer_bound(g) -> str:
    r"""Saturation to :math:`\pm(2^b - 1)` or two's-complement wrap-around of the integer membrane."""
    top = 2**g.bits - 1
    if g.overflow == "saturate":
        return f"clip(kv, {-top}, {top})"
    span = 2 ** (g.bits + 1)
    return f"(kv + {2**g.bits}) - {span}*nm_floor((kv + {2**g.bits})/{span}) - {2**g.bits}"


def presynaptic_trace_code(k: Constants, name: str, drive: str) -> list[str]:
    r"""A presynaptic trace through the neuron's filter stages (:func:`~neuromorph.plasticity.traces.inner_trace_step`,
    then :func:`~neuromorph.plasticity.traces.pre_trace_step`).

    .. math::

        F^{(m)} \leftarrow d_m F^{(m)} + s_m F^{(m-1)}, \qquad
        P \leftarrow \alpha P + s_\mathrm{in} F^{(M)}, \qquad F^{(0)} = \mathrm{pre}

    Single-stage neurons (LIF, ALIF, rate units) have no inner stage: :math:`P \leftarrow \alpha P + s_\mathrm{in}\mathrm{pre}`.
    The inner stages stay in floating point; only :math:`P` goes on a chip's trace grid (as in the torch backend).
    """
    c, lines = k.c, []
    for inner, f in zip(inner_names(k, name), c.inner):
        lines.append(f"{inner} = {_num(f.decay)}*{inner} + {_num(f.scale)}*({drive})")
        drive = inner
    return [*lines, trace_code(name, c.alpha, c.s_in, drive, k, c.s_in)]


def hidden_code(k: Constants) -> str:
    r"""One hidden-group step: :math:`z^{t-1}` kept as ``zp``, the rule's lines before the neuron steps
    (RFLO's Jacobian decay), the family's step (:mod:`.neurons`), then the presynaptic and readout traces

    .. math::

        P^\mathrm{rec} = F(z^{t-1}), \quad P^\mathrm{b} = F(1), \quad Z^\kappa = \kappa Z^\kappa + s_\mathrm{out} z^t

    of :func:`~neuromorph.plasticity.traces.pre_trace_step` (:func:`presynaptic_trace_code`).
    """
    c = k.c
    before = k.rule.before_step(k) if k.rule is not None else []
    return "\n".join(["zp = z", *before, k.family.step(k),
                      *presynaptic_trace_code(k, "P_rec", "zp"), *presynaptic_trace_code(k, "P_b", "1"),
                      trace_code("Zk", c.kappa, c.s_out, "z", k, c.s_out)])


def input_code(k: Constants) -> str:
    """The input trace :math:`P^\\mathrm{in} = F(x)` (:func:`presynaptic_trace_code`)."""
    return "\n".join(presynaptic_trace_code(k, "P", "x"))


def readout_code(k: Constants) -> str:
    r""":func:`~neuromorph.dynamics.readout.readout_step` and the output-bias trace :math:`F_\kappa(1)`."""
    c = k.c
    return "\n".join([f"y = {_num(c.kappa)}*y + {_num(c.s_out)}*(I_out + b_out)",
                      trace_code("Pob", c.kappa, c.s_out, "1", k, c.s_out)])


def error_code(classification: bool, batch: int) -> str:
    r""":math:`\delta = m(y - y^*)/B` or :math:`m(\mathrm{softmax}(y) - \mathrm{onehot})/B` (:func:`~neuromorph.plasticity.losses.output_error`)."""
    if classification:
        return f"delta = (exp(y)/sumexp - onehot)*(m/{batch})"
    return f"delta = (y - ystar)*(m/{batch})"


def eligibility_code(k: Constants, pre: str, post: str = "_post", suffix: str = "") -> str:
    r"""One step of a three-factor rule's eligibility for one synapse (or neuron, ``post=""``).

    The rule computes :math:`e` (``elig``: :mod:`.rules`, e-prop :math:`\psi_j(P_i - \beta_j\epsilon^a)`,
    RFLO :math:`\psi_j E_{ji}`), then, for every rule,

    .. math::

        \bar e \leftarrow \kappa \bar e + s_\mathrm{out} e, \qquad A \mathrel{+}= L_j \bar e, \qquad S \mathrel{+}= e
    """
    c = k.c
    n = lambda name: f"{name}{suffix}"
    lines = [*k.rule.eligibility(k, pre, post, suffix),
             f"{n('ebar')} = {_num(c.kappa)}*{n('ebar')} + {_num(c.s_out)}*elig",
             f"{n('acc')} = {n('acc')} + L{post}*{n('ebar')}",
             f"{n('acce')} = {n('acce')} + elig"]
    return "\n".join(lines)
