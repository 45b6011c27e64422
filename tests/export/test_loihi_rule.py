"""Loihi-2 sum-of-products rule strings: representable constants, Lava's documented rejections, e-prop."""

from __future__ import annotations

import math

import pytest

from neuromorph.errors import ExportError
from neuromorph.export.loihi_rule import LoihiRule, Product, eprop_rules, mantissa_exponent, parse_rule, rule_string
from neuromorph.hardware.profile import load_profile

L2 = load_profile("loihi2")


def test_round_trip_of_a_lava_example():
    text = "dw = 2^-2*x0*y1 - 2^-2*y0*x1"  # Lava STDP form, dependency first (Lava learning_rule.py, product_series.py)
    rule = parse_rule(text)
    assert [p.scale for p in rule.products] == [0.25, -0.25]
    assert rule_string(rule, L2) == text
    assert parse_rule(rule_string(rule, L2)) == rule


@pytest.mark.parametrize("value", [1.0, -8.0, 7 * 2.0**-7, 3 * 2.0**8, -5 * 2.0**-3, 0.75])
def test_mantissa_exponent_is_exact(value):
    m, e = mantissa_exponent(value, L2, "test")
    assert m * 2.0**e == value and -8 <= m <= 7 and -7 <= e <= 8


# The rejections lava-nc 0.10.0's rule parser (Lava learning_rule.py, product_series.py) raised when run by
# hand: a product without a dependency (x0, y0 or u_k), a scale mantissa outside [-8, 7] or exponent outside
# [-7, 8], and two different decimations u_k in one rule.
@pytest.mark.parametrize("text, why", [
    ("dw = x1*y1", "dw term 1 (x1*y1): no dependency"),
    ("dw = 17*x0*y1", "dw term 1 (17*x0*y1): mantissa 17"),
    ("dw = x0*y1*2^-9", "dw term 1 (2^-9*x0*y1): exponent -9"),
    ("dw = u1*x1 + u2*y1", "dw term 2 (u2*y1): mixes u_k"),
    ("dw = x0*q1", "unknown factor 'q1'"),
])
def test_unrepresentable_terms_are_named(text, why):
    with pytest.raises(ExportError, match=__import__("re").escape(why)):
        rule_string(parse_rule(text), L2)


def test_profiles_without_an_engine_or_target():
    rule = LoihiRule("dw", (Product(1, 0, "x0", ("y1",)),))
    with pytest.raises(ExportError, match="no sum-of-products"):
        rule_string(rule, load_profile("spinnaker2"))
    with pytest.raises(ExportError, match="not m\\*2\\^e"):
        mantissa_exponent(0.1, L2, "lr")  # 0.1 has no finite binary expansion


def test_eprop_rule_strings():
    kappa = 1 - 2.0**-5  # a readout decay the engine represents exactly
    dt_rule, dw_rule = eprop_rules(eta=3 * 2.0**-6, kappa=kappa, s_out=1.0, profile=L2)
    assert dt_rule == "dt = u0*x1*y1 - 2^-5*u0*t"
    assert dw_rule == "dw = -3*2^-6*u0*t*y2 + 3*2^-6*u0*t*y3"
    assert [p.scale for p in parse_rule(dw_rule).products] == [-3 * 2.0**-6, 3 * 2.0**-6]


def test_eprop_with_the_chip_card_decay_needs_snapping():
    kappa = math.exp(-1e-3 / 30e-3)  # models/eprop_sine_chip.toml: tau_out = 30 ms, dt = 1 ms
    with pytest.raises(ExportError, match=r"dt term 1 \(s_out\*u0\*x1\*y1\): scale 0.03278"):
        eprop_rules(eta=2.0**-6, kappa=kappa, s_out=1 - kappa, profile=L2)
    dt_rule, _ = eprop_rules(eta=2.0**-6, kappa=kappa, s_out=1 - kappa, profile=L2, snap=True)
    for p in parse_rule(dt_rule).products:  # nearest m*2^e with a 3-bit mantissa: within 2^-4 relative
        assert abs(abs(p.scale) - (1 - kappa)) <= (1 - kappa) / 16
