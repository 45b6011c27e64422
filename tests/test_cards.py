"""One card schema (neuromorph.cards): every shipped card and sweep file is read by the one entry point as the
object its command takes, and the schema's refusals say where a section belongs."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuromorph import cards
from neuromorph.anycard import load_any_card
from neuromorph.bias.study import Study
from neuromorph.config import RunSpec
from neuromorph.contrastive.card import ContrastiveCard
from neuromorph.errors import ConfigError
from neuromorph.sweep.spec import SweepSpec
from neuromorph.theory_compare.card import CompareCard
from neuromorph.tomlfile import read_toml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "models").glob("*.toml")) + sorted((ROOT / "sweeps").glob("*.toml"))
TYPES = {"run": RunSpec, "bias": Study, "contrastive": ContrastiveCard, "theory": CompareCard, "sweep": SweepSpec}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_card_loads_through_the_one_entry_point(path):
    table, _ = read_toml(path, "card")
    kind = cards.kind(table, str(path))
    assert set(table) <= set(cards.LAYOUTS[kind])
    assert isinstance(load_any_card(path), TYPES[kind])


def test_the_shipped_cards_cover_every_kind():
    kinds = {cards.kind(read_toml(p, "card")[0]) for p in SHIPPED}
    assert kinds == set(TYPES)


@pytest.mark.parametrize("table, kind, match", [
    ({"contrastive": {}, "sweep": {}}, "contrastive", "at most one study section"),
    ({"grid": {}}, "sweep", r"\[grid\] is now \[sweep.grid\]"),
    ({"phases": {}}, "contrastive", r"\[phases\] is now \[contrastive.phases\]"),
    ({"theory_compare": {}}, "run", "is a theory card.*neuromorph theory compare"),
    ({"sweep": {}, "task": {}}, "sweep", r"unknown section \[task\]; a sweep card has \[sweep\]"),
    ({"task": {}, "colour": {}}, "run", r"unknown section \[colour\]"),
])
def test_the_schema_refuses_with_where_the_section_goes(table, kind, match):
    with pytest.raises(ConfigError, match=match):
        cards.check_layout(table, kind, "c.toml")


def test_a_bias_card_is_a_run_card_with_a_study():
    table, _ = read_toml(ROOT / "models" / "bias_vdp.toml", "card")
    assert cards.kind(table) == "bias"
    cards.check_layout(table, "run")  # `neuromorph train` takes it as a run card
