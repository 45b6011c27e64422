r"""Brian2 code for one network step, generated from the parameter objects the torch step uses.

Every quantity of :mod:`neuromorph.dynamics` and :mod:`neuromorph.plasticity` becomes a brian2
variable, and one torch step becomes one brian2 time step, in this order (``when="groups"``,
``order`` below; THEORY.md §5.1):

=====  =====================================  ==============================================
order  object                                update
=====  =====================================  ==============================================
10     ``S_in``, ``S_rec`` (summed)           :math:`I^\mathrm{in}_j = \sum_i W^\mathrm{in}_{ji} x_i^t`,
                                              :math:`I^\mathrm{rec}_j = \sum_i W^\mathrm{rec}_{ji} z_i^{t-1}`
20     hidden group, input group              neuron or rate unit (:func:`neuron_code`), presynaptic traces
30     ``S_out`` (summed)                     :math:`I^\mathrm{out}_k = \sum_j W^\mathrm{out}_{kj} z_j^t`
40     readout group                          :math:`y^t = \kappa y^{t-1} + s_\mathrm{out}(I^\mathrm{out} + b^\mathrm{out})`
45     ``S_soft`` (summed, classification)    :math:`\sum_k e^{y_k}`
50     readout group                          output error :math:`\delta^t` (:mod:`.losses`)
60     ``S_fb`` (summed)                      learning signal :math:`L_j^t = \sum_k B_{jk}\delta_k^t`
70     synapses, hidden, readout              e-prop or RFLO eligibility, window accumulators
=====  =====================================  ==============================================

so the spikes :math:`z^t` are computed from :math:`z^{t-1}` exactly as in
:meth:`neuromorph.backends.torch.simulate.Lowered.step`, and the eligibility of step *t* sees the
traces and learning signal of step *t*, as in :func:`neuromorph.plasticity.eprop_online.online_step`.
A hardware profile's integer membrane and trace grids (:mod:`neuromorph.hardware.numerics`) are
lowered to the same integer operations (:mod:`.functions`: rounding ties to even like ``torch.round``).
The network disables brian2's algebraic rewriting of these expressions and the C++ compiler's
``-ffast-math``, so a brian2 step evaluates the same floating-point expressions as a torch step.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuromorph.dynamics import LIFParameters, RateParameters
from neuromorph.dynamics.rate import Activation
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec
from neuromorph.plasticity.traces import TraceConstants

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
    """The numbers the generated code needs, all taken from the torch lowering.

    ``rflo`` is ``None`` (e-prop), ``"fixed"`` (a per-neuron decay :math:`d_j`) or ``"jacobian"``.
    """

    c: TraceConstants
    spec: NetworkSpec
    chip: ChipNumerics | None
    rflo: str | None = None

    @classmethod
    def of(cls, spec: NetworkSpec, c: TraceConstants, chip: ChipNumerics | None, rflo: str | None = None) -> Constants:
        return cls(c, spec, chip, rflo)

    @property
    def n_ref(self) -> int:
        """Refractory period in steps (0 for rate units)."""
        return self.spec.neuron.n_ref(self.spec.dt) if self.spec.spiking else 0

    @property
    def adaptive(self) -> bool:
        return self.spec.adaptive

    @property
    def spiking(self) -> bool:
        return self.spec.spiking

    @property
    def neuron(self) -> LIFParameters | RateParameters:
        return self.spec.neuron


# ------------------------------------------------------------------------------------------ variables
def hidden_variables(k: Constants) -> str:
    """State of a hidden neuron: membrane, spike, refractory count, traces, drives and third factor."""
    names = ["v", "z", "zp", "r", "psi", "bias", "theta", "P_rec", "P_b", "Zk", "L",
             "ebar_b", "epsa_b", "acc_b", "acce_b", "ebar_th", "epsa_th", "acc_th", "acce_th", "thr", "kv",
             "dj", "wdiag", "E_b"]
    if k.adaptive:
        names += ["a", "beta"]
    return "\n".join(f"{n} : 1" for n in names) + "\nI_in : 1\nI_rec : 1"


def input_variables() -> str:
    """An input channel: its value from the ``X`` TimedArray and its presynaptic trace."""
    return "x = X(t, i) : 1\nP : 1"


def readout_variables(classification: bool) -> str:
    """A readout: output, bias, output-bias trace, target, mask, error and bias accumulator."""
    target = "onehot = Ystar(t, i) : 1" if classification else "ystar = Ystar(t, i) : 1"
    lines = ["y : 1", "b_out : 1", "Pob : 1", "delta : 1", "acc_bo : 1", "I_out : 1", target, "m = M(t, i) : 1"]
    if classification:
        lines.append("sumexp : 1")
    return "\n".join(lines)


def synapse_variables(k: Constants, summed: str | None, plastic: bool) -> str:
    """A plastic synapse: weight, filtered eligibility, ALIF eligibility and the two accumulators."""
    names = ["w"] + (["ebar", "acc", "acce"] + (["epsa"] if k.adaptive else []) + (["E"] if k.rflo else [])
                     if plastic else [])
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


def membrane_code(k: Constants) -> str:
    r"""The membrane update of :func:`neuromorph.dynamics.lif.exact_membrane` or the chip's integer one.

    Exact: :math:`v = \alpha v + s I - v_\mathrm{th} z^{t-1}`. Integer
    (:meth:`neuromorph.hardware.numerics.ChipNumerics.membrane`): :math:`k = R(v/\Delta_v)`, the chip's
    decay :math:`D(k)`, reset, :math:`k \mathrel{+}= R(sI/\Delta_v)`, saturate or wrap, :math:`v = k\Delta_v`.
    """
    p, alpha, scale = k.neuron, k.c.alpha, k.c.s_in
    drive = "(I_in + I_rec + bias)"
    g = k.chip.state if k.chip is not None else None
    if g is None or (g.kind == "exact" and g.reset == "subtract"):
        return f"v = {_num(alpha)}*v + {_num(scale)}*{drive} - {_num(p.v_th)}*zp"
    if g.kind == "exact":
        return f"v = {_num(alpha)}*v*(1 - zp) + {_num(scale)}*{drive}"
    step = p.v_th / g.threshold_lsb
    top = 2**g.bits - 1
    if g.decay == "mul_shift":
        decay = f"nm_trunc(kv*{2**g.decay_bits - g.decay_const}/{2**g.decay_bits})"  # sgn(k)floor(|k|c)
    else:
        decay = f"kv - nm_floor(kv/{2**g.decay_const})"
    reset = "kv*(1 - zp)" if g.reset == "zero" else f"kv - {g.threshold_lsb}*zp"
    if g.overflow == "saturate":
        bound = f"clip(kv, {-top}, {top})"
    else:
        span = 2 ** (g.bits + 1)
        bound = f"(kv + {2**g.bits}) - {span}*nm_floor((kv + {2**g.bits})/{span}) - {2**g.bits}"
    return "\n".join([
        f"kv = {round_code(f'v/{_num(step)}')}",
        f"kv = {decay}",
        f"kv = {reset}",
        f"kv = kv + {round_code(f'{_num(scale)}*{drive}/{_num(step)}')}",
        f"kv = {bound}",
        f"v = kv*{_num(step)}",
    ])


def neuron_code(k: Constants) -> str:
    r"""One LIF/ALIF step (:func:`~neuromorph.dynamics.lif.lif_step`, :func:`~neuromorph.dynamics.alif.alif_step`).

    .. math::

        a &= \rho a + z^{t-1}, \quad A = v_\mathrm{th} + \beta a + \theta, \quad
        z = H(v - A)[r = 0], \quad
        \psi = \tfrac{\gamma}{v_\mathrm{th}}\max(0, 1 - \tfrac{|v - A|}{\delta v_\mathrm{th}})[r = 0]

    followed by the presynaptic traces of :func:`~neuromorph.plasticity.traces.pre_trace_step`.
    """
    p, c = k.neuron, k.c
    lines = ["zp = z"]
    if k.rflo == "jacobian":  # RFLO's d_j from the previous step's post factor, before psi moves on
        lines.append(f"dj = {_num(c.alpha)} + {_num(c.s_in)}*wdiag*psi")
    if not k.spiking:
        return "\n".join(lines + [rate_code(k), *_hidden_traces(k)])
    if k.adaptive:
        lines.append(f"a = {_num(c.rho)}*a + zp")
        lines.append(f"thr = {_num(p.v_th)} + beta*a + theta")
    else:
        lines.append(f"thr = {_num(p.v_th)} + theta")
    lines.append(membrane_code(k))
    free = "int(r <= 0)"
    lines += [
        f"z = int(v > thr)*{free}",
        f"psi = {_num(p.pd_height / p.v_th)}*clip(1 - abs(v - thr)/{_num(p.pd_width * p.v_th)}, 0, inf)*{free}",
        f"r = int(z > 0.5)*{k.n_ref} + int(z <= 0.5)*clip(r - 1, 0, inf)",
        *_hidden_traces(k),
    ]
    return "\n".join(lines)


def _hidden_traces(k: Constants) -> list[str]:
    c = k.c
    return [trace_code("P_rec", c.alpha, c.s_in, "zp", k, c.s_in),
            trace_code("P_b", c.alpha, c.s_in, "1", k, c.s_in),
            trace_code("Zk", c.kappa, c.s_out, "z", k, c.s_out)]


def rate_code(k: Constants) -> str:
    r"""One rate-unit step (:func:`~neuromorph.dynamics.rate.rate_step`).

    :math:`u = (1-a)u + aI` (:math:`u = I` when :math:`a = 1`), :math:`r = \phi(u)`, :math:`\psi = \phi'(u)`.
    """
    a = k.c.s_in
    drive = "(I_in + I_rec + bias)"
    update = f"v = {drive}" if a == 1.0 else f"v = {_num(1.0 - a)}*v + {_num(a)}*{drive}"
    phi = {Activation.LINEAR: ("z = v", "psi = 1.0"),
           Activation.TANH: ("z = tanh(v)", "psi = 1.0 - z**2"),
           Activation.RELU: ("z = clip(v, 0, inf)", "psi = 1.0*int(v > 0)")}[k.neuron.activation]
    return "\n".join([update, *phi])


def input_code(k: Constants) -> str:
    """The input trace :math:`P^\\mathrm{in} = \\alpha P^\\mathrm{in} + s_\\mathrm{in} x`."""
    return trace_code("P", k.c.alpha, k.c.s_in, "x", k, k.c.s_in)


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
    r"""One step of :func:`~neuromorph.plasticity.eprop_online.online_step` for one synapse (or neuron).

    e-prop (``pre`` is the presynaptic trace :math:`P_i`):

    .. math::

        e &= \psi_j P_i - \beta_j\psi_j\,\epsilon^a, \qquad
        \epsilon^a \leftarrow \psi_j P_i + (\rho - \beta_j\psi_j)\,\epsilon^a \\
        \bar e &\leftarrow \kappa \bar e + s_\mathrm{out} e, \qquad
        A \mathrel{+}= L_j \bar e, \qquad S \mathrel{+}= e

    RFLO (:func:`~neuromorph.plasticity.rflo.rflo_online_step`; ``pre`` is the raw activity):
    :math:`E \leftarrow d_j E + s\,\mathrm{pre}_i`, :math:`e = \psi_j E`, then the same filter and sums.
    """
    c = k.c
    n = lambda name: f"{name}{suffix}"
    if k.rflo:
        lines = [f"{n('E')} = dj{post}*{n('E')} + {_num(c.s_in)}*({pre})", f"elig = psi{post}*{n('E')}"]
    elif k.adaptive:
        lines = [f"edrive = psi{post}*({pre})",
                 f"elig = edrive - (beta{post}*psi{post})*{n('epsa')}",
                 f"{n('epsa')} = edrive + ({_num(c.rho)} - beta{post}*psi{post})*{n('epsa')}"]
    else:
        lines = [f"elig = psi{post}*({pre})"]
    lines += [f"{n('ebar')} = {_num(c.kappa)}*{n('ebar')} + {_num(c.s_out)}*elig",
              f"{n('acc')} = {n('acc')} + L{post}*{n('ebar')}",
              f"{n('acce')} = {n('acce')} + elig"]
    return "\n".join(lines)
