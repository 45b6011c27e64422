r"""Learning rules as Loihi-2 sum-of-products strings (Lava's ``Loihi2FLearningRule`` syntax).

Loihi's learning engine updates a synaptic variable :math:`Z \in \{w, d, t\}` once per learning
epoch by a sum of products (Davies et al. 2018, p. 91; HARDWARE.md §1.3, §2.1):

.. math::

    Z \leftarrow Z + \sum_i m_i 2^{e_i}\, D_i \prod_j F_{ij}

with a *dependency* :math:`D_i \in \{x_0, y_0, u_k\}` (pre spike in the epoch, post spike in
the epoch, every :math:`2^k` epochs; one :math:`k` for all rules), factors
:math:`F \in \{x_0,x_1,x_2,y_0,y_1,y_2,y_3,w,d,t\}` and a scale with mantissa
:math:`m \in [-2^b, 2^b-1]` (:math:`b` = the profile's ``lr_format.mant_bits``, 3 on Loihi 2)
and exponent :math:`e \in [-7, 8]` (Lava ``product_series.py``). Lava writes a rule as e.g.
``dw = 2^-2*x1*y0 - 2^-2*y1*x0``.

e-prop on chip (:func:`eprop_rules`, HARDWARE.md §1.10): the presynaptic trace :math:`P_i` is
``x1``; the post neuron's microcode writes the pseudo-derivative :math:`\psi_j` into ``y1`` and the
learning signal's positive and negative parts :math:`[L_j]_\pm` into ``y2``/``y3`` (traces are
unsigned: ``split_signed``); the tag ``t`` holds the filtered eligibility
:math:`\bar e_{ji} \leftarrow \kappa \bar e_{ji} + s_\mathrm{out}\psi_j P_i`. Evaluated every
step (``u0``, epoch = 1 step):

.. math::

    dt &= s_\mathrm{out}\, u_0 x_1 y_1 - (1-\kappa)\, u_0 t \\
    dw &= -\eta\, u_0\, t\, y_2 + \eta\, u_0\, t\, y_3

which is :math:`\Delta W_{ji} = -\eta \sum_t L_j^t \bar e_{ji}^t` with the scales in the units of
the traces (the chip's trace and weight LSBs fold into :math:`\eta`; pass ``eta`` in those units).
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

__all__ = ["LoihiRule", "Product", "eprop_rules", "mantissa_exponent", "parse_rule", "rule_string"]

#: Lava ``product_series.py``: scale exponent range (HARDWARE.md §1.3, "Rule API").
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
