r"""Learning rules as Loihi-2 sum-of-products strings (Lava's ``Loihi2FLearningRule`` syntax).

Loihi's learning engine updates a synaptic variable :math:`Z \in \{w, d, t\}` once per learning
epoch by a sum of products (Davies et al. 2018, p. 91; docs/hardware.md):

.. math::

    Z \leftarrow Z + \sum_i m_i 2^{e_i}\, D_i \prod_j F_{ij}

with a *dependency* :math:`D_i \in \{x_0, y_0, u_k\}` (pre spike in the epoch, post spike in
the epoch, every :math:`2^k` epochs; one :math:`k` for all rules), factors
:math:`F \in \{x_0,x_1,x_2,y_0,y_1,y_2,y_3,w,d,t\}` and a scale with mantissa
:math:`m \in [-2^b, 2^b-1]` (:math:`b` = the profile's ``lr_format.mant_bits``, 3 on Loihi 2)
and exponent :math:`e \in [-7, 8]` (Lava ``product_series.py``). Lava writes a rule as e.g.
``dw = 2^-2*x1*y0 - 2^-2*y1*x0``.

e-prop on chip (:func:`eprop_rules`, docs/hardware.md): the presynaptic trace :math:`P_i` is
``x1``; the post neuron's microcode writes the pseudo-derivative :math:`\psi_j` into ``y1`` and the
learning signal's positive and negative parts :math:`[L_j]_\pm` into ``y2``/``y3`` (traces are
unsigned: ``split_signed``); the tag ``t`` holds the filtered eligibility
:math:`\bar e_{ji} \leftarrow \kappa \bar e_{ji} + s_\mathrm{out}\psi_j P_i`. Evaluated every
step (``u0``, epoch = 1 step):

.. math::

    dt &= s_\mathrm{out}\, u_0 x_1 y_1 - (1-\kappa)\, u_0 t \\
    dw &= -\eta\, u_0\, t\, y_2 + \eta\, u_0\, t\, y_3

which is :math:`\Delta W_{ji} = -\eta \sum_t L_j^t \bar e_{ji}^t` with the scales in the units of
the traces (the chip's trace and weight LSBs fold into :math:`\eta`; pass ``eta`` in those units,
:func:`eta_on_chip` converts the model's learning rate, :func:`run_rule_strings` writes a run's rules).
A constant that is not exactly :math:`m 2^e` in range raises :class:`ExportError` naming the term,
unless ``snap=True`` rounds it to the nearest representable value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from neuromorph.errors import ExportError
from neuromorph.hardware.profile import HardwareProfile
from neuromorph.hardware.quantize import snap_mantissa_exponent

__all__ = ["LoihiRule", "Product", "eprop_rules", "eta_on_chip", "mantissa_exponent", "parse_rule", "rule_string",
           "run_rule_strings", "trace_steps"]

#: Lava ``product_series.py``: scale exponent range (docs/hardware.md, "Rule API").
EXPONENT_RANGE = (-7, 8)
FACTORS = ("x0", "x1", "x2", "y0", "y1", "y2", "y3", "w", "d", "t")
TARGETS = {"dw": "weight", "dd": "delay", "dt": "tag"}


@dataclass(frozen=True)
class Product:
    """One term :math:`m 2^e \\cdot D \\cdot \\prod F`; ``dependency`` is None when missing (an error)."""

    mantissa: int
    exponent: int
    dependency: str | None
    factors: tuple[str, ...]

    @property
    def scale(self) -> float:
        return self.mantissa * 2.0**self.exponent

    def text(self) -> str:
        names = ([self.dependency] if self.dependency else []) + list(self.factors)
        scale = [] if self.mantissa == 1 and self.exponent == 0 else (
            [f"2^{self.exponent}"] if self.mantissa == 1 else [str(self.mantissa)] + (
                [f"2^{self.exponent}"] if self.exponent else []))
        return "*".join(scale + names)


@dataclass(frozen=True)
class LoihiRule:
    """``target`` (``dw``, ``dd`` or ``dt``) and its products."""

    target: str
    products: tuple[Product, ...]


def _mant_range(profile: HardwareProfile) -> tuple[int, int]:
    bits = profile.plasticity.lr_mant_bits or 3
    return -(2**bits), 2**bits - 1


def mantissa_exponent(value: float, profile: HardwareProfile, where: str, snap: bool = False) -> tuple[int, int]:
    """``(m, e)`` with :math:`m 2^e` = ``value`` exactly (or nearest, with ``snap``) in the profile's ranges."""
    lo, hi = _mant_range(profile)
    if value == 0 or not math.isfinite(value):
        raise ExportError(f"{where}: scale {value} is not a non-zero finite number")
    for e in range(EXPONENT_RANGE[1], EXPONENT_RANGE[0] - 1, -1):  # largest e first: the reduced (odd) mantissa
        m = value / 2.0**e
        if m == int(m) and lo <= m <= hi:
            return int(m), e
    if snap:
        _, m, e = snap_mantissa_exponent(value, hi.bit_length())
        if EXPONENT_RANGE[0] <= e <= EXPONENT_RANGE[1]:
            return m, e
    raise ExportError(f"{where}: scale {value:.6g} is not m*2^e with m in [{lo}, {hi}] and e in "
                      f"[{EXPONENT_RANGE[0]}, {EXPONENT_RANGE[1]}] ({profile.id} learning engine)"
                      + ("" if snap else "; pass snap=True to round it"))


def check(rule: LoihiRule, profile: HardwareProfile, decimation: set[int] | None = None) -> None:
    """Raise :class:`ExportError` naming the first term the profile's engine cannot run."""
    plast = profile.plasticity
    if plast.engine != "sum_of_products":
        raise ExportError(f"{profile.id} has no sum-of-products learning engine (engine = {plast.engine!r})")
    if TARGETS.get(rule.target) not in plast.targets:
        raise ExportError(f"{rule.target}: {profile.id} cannot learn {TARGETS.get(rule.target, rule.target)!r} "
                          f"(targets {list(plast.targets)})")
    lo, hi = _mant_range(profile)
    decimation = set() if decimation is None else decimation
    for i, p in enumerate(rule.products, 1):
        where = f"{rule.target} term {i} ({p.text()})"
        if p.dependency is None:
            raise ExportError(f"{where}: no dependency; every product needs x0, y0 or u_k")
        if p.dependency[0] == "u":
            decimation.add(int(p.dependency[1:]))
            if len(decimation) > 1:
                raise ExportError(f"{where}: mixes u_k decimations {sorted(decimation)}; Loihi allows one k per rule set")
        bad = [f for f in p.factors if f not in FACTORS]
        if bad:
            raise ExportError(f"{where}: unknown factor {bad[0]!r} (factors: {', '.join(FACTORS)})")
        if not lo <= p.mantissa <= hi:
            raise ExportError(f"{where}: mantissa {p.mantissa} outside [{lo}, {hi}]")
        if not EXPONENT_RANGE[0] <= p.exponent <= EXPONENT_RANGE[1]:
            raise ExportError(f"{where}: exponent {p.exponent} outside [{EXPONENT_RANGE[0]}, {EXPONENT_RANGE[1]}]")


def rule_string(rule: LoihiRule, profile: HardwareProfile) -> str:
    """``"dw = ..."`` after :func:`check`."""
    check(rule, profile)
    out = ""
    for i, p in enumerate(rule.products):
        negative = p.mantissa < 0
        term = Product(-p.mantissa if negative else p.mantissa, p.exponent, p.dependency, p.factors).text()
        out += (("-" if negative else "") if i == 0 else (" - " if negative else " + ")) + term
    return f"{rule.target} = {out}"


_TOKEN = re.compile(r"^(?:(?P<int>\d+)|2\^(?P<exp>-?\d+)|(?P<name>[a-z]\d?))$")


def parse_rule(text: str) -> LoihiRule:
    """Parse ``"dw = 2^-2*x1*y0 - 3*2^-4*u0*t*y2"`` (the subset :func:`rule_string` writes)."""
    target, sep, body = text.partition("=")
    target = target.strip()
    if not sep or target not in TARGETS:
        raise ExportError(f"not a rule string (expected 'dw|dd|dt = ...'): {text!r}")
    products = []
    for sign, term in re.findall(r"([+-]?)\s*([^+-]+)", body.replace(" ", "").replace("^-", "^~")):
        m, e, dep, factors = (-1 if sign == "-" else 1), 0, None, []
        for token in term.replace("^~", "^-").split("*"):
            match = _TOKEN.match(token)
            if match is None:
                raise ExportError(f"{target}: cannot read {token!r} in term {term!r}")
            if match["int"]:
                m *= int(match["int"])
            elif match["exp"]:
                e += int(match["exp"])
            elif dep is None and (token in ("x0", "y0") or token[0] == "u"):
                dep = token
            else:
                factors.append(token)
        products.append(Product(m, e, dep, tuple(factors)))
    return LoihiRule(target, tuple(products))


def eprop_rules(eta: float, kappa: float, s_out: float, profile: HardwareProfile, snap: bool = False) -> list[str]:
    """e-prop's on-chip update as ``[dt rule, dw rule]`` (see the module docstring for the mapping).

    ``eta`` is the learning rate in trace and weight units; ``kappa`` the readout decay per step
    and ``s_out`` its drive scale (:class:`~neuromorph.dynamics.ReadoutParameters`).
    """
    def term(value, where, dep, *factors):
        m, e = mantissa_exponent(value, profile, where, snap)
        return Product(m, e, dep, factors)

    tag = LoihiRule("dt", (term(s_out, "dt term 1 (s_out*u0*x1*y1)", "u0", "x1", "y1"),
                           term(-(1 - kappa), "dt term 2 (-(1-kappa)*u0*t)", "u0", "t")))
    weight = LoihiRule("dw", (term(-eta, "dw term 1 (-eta*u0*t*y2)", "u0", "t", "y2"),
                              term(eta, "dw term 2 (eta*u0*t*y3)", "u0", "t", "y3")))
    return [rule_string(tag, profile), rule_string(weight, profile)]


def eta_on_chip(lr: float, weight_step: float, pre_step: float, psi_step: float, signal_step: float) -> float:
    r"""The model's learning rate ``lr`` as the ``eta`` of :func:`eprop_rules` (trace and weight-LSB units).

    On chip every quantity is an integer count of its LSB (model units per count):
    :math:`x_1 = P_i/\Delta_x`, :math:`y_1 = \psi_j/\Delta_\psi`,
    :math:`y_{2,3} = [L_j]_\pm/\Delta_L`, :math:`k_W = W/\Delta_W`. The tag rule then holds
    :math:`t = \bar e_{ji}/(\Delta_x\Delta_\psi)`, and the weight rule changes :math:`k_W` by
    :math:`-\eta\, t\,(y_2 - y_3) = -\eta\, \bar e_{ji} L_j/(\Delta_x\Delta_\psi\Delta_L)` per step. The
    model's update :math:`\Delta W_{ji} = -\mathrm{lr}\, L_j \bar e_{ji}` is
    :math:`-\mathrm{lr}\, L_j \bar e_{ji}/\Delta_W` weight LSBs, so

    .. math::

        \eta = \mathrm{lr}\;\frac{\Delta_x\,\Delta_\psi\,\Delta_L}{\Delta_W}

    (summing per step or per epoch gives the same total: the engine adds every step's product).
    """
    for name, value in (("lr", lr), ("weight_step", weight_step), ("pre_step", pre_step), ("psi_step", psi_step),
                        ("signal_step", signal_step)):
        if not (value > 0 and math.isfinite(value)):
            raise ExportError(f"eta conversion: {name} must be positive and finite, got {value}")
    return lr * pre_step * psi_step * signal_step / weight_step


def trace_steps(profile: HardwareProfile, neuron, dt: float, signal_max: float) -> tuple[float, float, float]:
    r"""``(Δ_x, Δ_ψ, Δ_L)``: model units per LSB of the pre trace and of the post traces y1 and y2/y3.

    :math:`\Delta_x = s/\mathrm{impulse}` (a spike adds ``impulse`` counts, :mod:`neuromorph.hardware.numerics`);
    the post neuron writes :math:`\psi_j \in [0, \gamma/v_\mathrm{th}]` and :math:`|L_j| \le L_\max` over the
    full unsigned trace range: :math:`\Delta_\psi = (\gamma/v_\mathrm{th})/(2^b-1)`,
    :math:`\Delta_L = L_\max/(2^b-1)` with :math:`b` the profile's ``traces.post.bits``.
    """
    pre, post = profile.traces.get("pre"), profile.traces.get("post")
    if pre is None or post is None or pre.format != "int" or post.format != "int":
        raise ExportError(f"{profile.id} has no integer pre and post traces; Loihi rule strings need them")
    top = 2**post.bits - 1
    return neuron.drive_scale(dt) / pre.impulse, neuron.pd_height / neuron.v_th / top, signal_max / top


#: The worst relative error of snapping to m*2^e with a 3-bit mantissa inside the exponent range: 1/(2*4).
SNAP_TOLERANCE = 0.125


def _nearest_scale(eta: float, profile: HardwareProfile, target: str) -> tuple[int, int]:
    """The nearest ``m 2^e`` the engine can write; :class:`ExportError` when even that is off by > 12.5 %."""
    lo, hi = _mant_range(profile)
    best = min((abs(m * 2.0**e - eta), m, e) for m in range(1, hi + 1)
                for e in range(EXPONENT_RANGE[0], EXPONENT_RANGE[1] + 1))
    _, m, e = best
    if abs(m * 2.0**e - eta) > SNAP_TOLERANCE * eta:
        raise ExportError(
            f"{target}: eta = lr*dx*dpsi*dL/dW = {eta:.3g} weight LSBs per t*y2 count, outside the scales the "
            f"{profile.id} engine can write ({2.0**EXPONENT_RANGE[0]:g} .. {hi * 2.0**EXPONENT_RANGE[1]:g}: "
            f"m*2^e, m in [{lo}, {hi}], e in [{EXPONENT_RANGE[0]}, {EXPONENT_RANGE[1]}]); the run's rule cannot be "
            "expressed at these trace and weight resolutions (fix: a larger optimizer.lr, or train with --mode "
            "offline and deploy without on-chip learning)")
    return m, e


def run_rule_strings(spec, weight_steps: dict[str, float], lr: float, signal_max: float,
                     profile: HardwareProfile) -> list[str]:
    """A run's e-prop rule as commented ``TARGET: dt = ...`` / ``TARGET: dw = ...`` lines, one pair per chip matrix.

    ``weight_steps`` are the run's weight grids (model units per LSB), ``lr`` the learning rate the run used
    on chip, ``signal_max`` the largest :math:`|L_j|` the post neuron must write (e.g. the run's recorded
    learning signal). Scales that are not exactly :math:`m 2^e` are snapped to the nearest one the engine can
    write (the comment says by how much); more than 12.5 % off (:data:`SNAP_TOLERANCE`, the worst in-range
    error of a 3-bit mantissa) is an error.

    Raises
    ------
    ExportError
        The run's rule is not e-prop, reads what the string form cannot (a rate regulariser, a learned
        threshold or bias), or the profile's post traces are not programmable (Loihi 1 cannot write ψ).
    """
    rule, network = spec.rule, spec.network
    name = getattr(rule, "name", type(rule).__name__)
    if name != "eprop":
        raise ExportError(f"rule {name!r} has no Loihi sum-of-products form here; only e-prop's online rule "
                          "does (train with rule.name = \"eprop\")")
    post = profile.traces.get("post")
    if post is None or not profile.value("traces.post.programmable", False):
        raise ExportError(f"{profile.id}'s post traces are fixed-function: its neurons cannot write the "
                          "pseudo-derivative into y1, so e-prop's rule strings need --profile loihi2")
    if rule.regularization.strength > 0:
        raise ExportError("the run's firing-rate regulariser reads the neuron's rate; the string form has no term "
                          "for it (set rule.regularization off)")
    targets = sorted(t.value for t in rule.targets)
    bad = [t for t in targets if t in ("bias", "threshold", "b_out")]
    if bad:
        raise ExportError(f"rule.targets {bad}: the rule strings cover w_in and w_rec (w_out is learned by the "
                          "host); drop them from rule.targets")
    if not signal_max > 0:
        raise ExportError("the run recorded no non-zero learning signal; cannot scale y2/y3")
    kappa, s_out = spec.network.readout.kappa(network.dt), spec.network.readout.drive_scale(network.dt)
    dx, dpsi, dl = trace_steps(profile, network.neuron, network.dt, signal_max)
    head = (f"# e-prop rule strings ({profile.id}, Lava Loihi2FLearningRule syntax); per-LSB steps: "
            f"x1 {dx:.6g}, y1 (psi) {dpsi:.6g}, y2/y3 (L) {dl:.6g}; eta = lr*dx*dpsi*dL/dW")
    lines = [head]
    for target in targets:
        if target == "w_out":
            lines.append("# w_out: the readout is read and learned by the host (no chip rule)")
            continue
        dw = weight_steps[target]
        eta = eta_on_chip(lr, dw, dx, dpsi, dl)
        m, e = _nearest_scale(eta, profile, target)
        snapped = m * 2.0**e
        rel = abs(snapped - eta) / eta
        lines.append(f"# {target}: lr {lr:.6g}, dW {dw:.6g} -> eta {eta:.6g} ~ {m}*2^{e} (relative error {rel:.2%})")
        lines += [f"{target}: {text}" for text in eprop_rules(snapped, kappa, s_out, profile, snap=True)]
    return lines
