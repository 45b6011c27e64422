"""Fuzz of the input loaders: a mutated shipped card, profile, sweep, contrastive or theory card is
either accepted or refused with a package error (``NeuromorphError``), never another exception.

Each test mutates a parsed shipped file (replace, delete or add keys at any depth with values of any
TOML type, non-finite floats and integers beyond 64 bits included) and calls the loader's parse step,
so no file I/O slows the 1000 examples per loader down.
"""

import copy
import datetime
from pathlib import Path

import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuromorph.bias.study import parse_study
from neuromorph.config import resolve
from neuromorph.contrastive.card import parse_contrastive_card
from neuromorph.errors import NeuromorphError
from neuromorph.hardware.profile import PROFILE_DIR, build
from neuromorph.sweep.spec import parse_sweep
from neuromorph.theory_compare.card import parse_compare_card

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 1000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _parsed(path: Path) -> dict:
    return tomllib.loads(path.read_text())


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**63, 2**64, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e300, 1e-300]),
    st.text(max_size=8),
    st.dates(),
    st.just(datetime.time(12, 0)),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


@st.composite
def mutated(draw, base: dict) -> dict:
    """``base`` with 1-3 mutations: replace, delete or add a key at a random depth."""
    card = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        table = card
        while True:
            keys = sorted(table)
            if not keys or draw(st.integers(0, 3)) == 0:
                table[draw(st.one_of(st.text(max_size=6), st.sampled_from(keys or ["x"])))] = draw(VALUES)
                break
            key = draw(st.sampled_from(keys))
            if isinstance(table[key], dict) and draw(st.booleans()):
                table = table[key]
                continue
            if draw(st.integers(0, 4)) == 0:
                del table[key]
            else:
                table[key] = draw(VALUES)
            break
    return card


def _accepts_or_refuses(parse, table) -> None:
    try:
        parse(table)
    except NeuromorphError:
        pass


MODEL_CARDS = [_parsed(ROOT / "models" / f"{n}.toml") for n in ("eprop_sine", "eprop_sine_chip", "linear_rflo")]
PROFILES = [_parsed(PROFILE_DIR / f"{n}.toml") for n in ("loihi2", "xylo", "ideal")]


@FUZZ
@given(st.sampled_from(range(len(MODEL_CARDS))).flatmap(lambda i: mutated(MODEL_CARDS[i])))
def test_model_card_fuzz_raises_only_package_errors(card):
    _accepts_or_refuses(lambda c: resolve(c, "fuzz.toml"), card)


@FUZZ
@given(st.sampled_from(range(len(PROFILES))).flatmap(lambda i: mutated(PROFILES[i])))
def test_profile_fuzz_raises_only_package_errors(raw):
    _accepts_or_refuses(lambda r: build(r, Path("fuzz_profile.toml")), raw)


@FUZZ
@given(mutated(_parsed(ROOT / "sweeps" / "gain_smoke.toml")))
def test_sweep_fuzz_raises_only_package_errors(table):
    _accepts_or_refuses(lambda t: parse_sweep(t, ROOT / "sweeps" / "gain_smoke.toml"), table)


@FUZZ
@given(mutated(_parsed(ROOT / "models" / "cl_xor.toml")))
def test_contrastive_card_fuzz_raises_only_package_errors(table):
    _accepts_or_refuses(lambda t: parse_contrastive_card(t, "fuzz.toml"), table)


@FUZZ
@given(mutated(_parsed(ROOT / "models" / "linear_teacher.toml")))
def test_theory_card_fuzz_raises_only_package_errors(table):
    _accepts_or_refuses(lambda t: parse_compare_card(t, "fuzz.toml"), table)


@FUZZ
@given(mutated(_parsed(ROOT / "models" / "bias_vdp.toml")))
def test_bias_study_card_fuzz_raises_only_package_errors(table):
    _accepts_or_refuses(lambda t: parse_study(t, Path("fuzz.toml")), table)
